"""Behavior hooks: how plugins extend PixSim's NPC behavior engine.

Custom conditions, effects, scoring factors and static simulation defaults are *registered* through
``ctx.behavior`` (the BehaviorExtensionAPI) from :func:`register_behavior`; each ``register_*`` member needs its own
permission and namespaces the id under the plugin (``plugin:<id>:<name>``). The engine calls registered functions
isolated, with these fallbacks: condition → False, effect → skipped with none of its writes applied, scoring
factor → neutral (1.0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookspecs._markers import Fallback, contract, hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pixsim_hooks.plugin import NpcSnapshot, PluginContext, SessionSnapshot

__all__ = ["provide_simulation_defaults", "register_behavior", "suggest_activities"]


@hookspec
@contract(kind="behavior", permission=None, fallback=Fallback.QUARANTINE)
def register_behavior(ctx: PluginContext) -> None:
    """Register the plugin's behavior extensions through ``ctx.behavior`` (called once, after ``on_load``).

    Permission: none for the hook; each ``ctx.behavior.register_*`` member checks its own
    (``behavior:extend_conditions``, ``behavior:extend_effects``, ``behavior:extend_scoring``,
    ``behavior:configure_simulation``). A denied registration raises PermissionDenied in the plugin and is
    recorded. Return: ignored. Failure (an exception escaping the hook): the plugin is quarantined and every
    registration it made is withdrawn.
    """


@hookspec
@contract(kind="behavior", permission="behavior:suggest_activities", fallback=Fallback.EMPTY)
def suggest_activities(
    ctx: PluginContext, world_id: int, npc: NpcSnapshot, session: SessionSnapshot
) -> Sequence[str] | None:
    """Suggest extra candidate activity ids for ``npc``'s next decision in ``session``.

    Suggestions must name activities the world defines; unknown ids are ignored. Candidates still pass their
    requirements and conditions. Permission: ``behavior:suggest_activities``. Return: activity ids, or None.
    Failure: the plugin suggests nothing this time (recorded).
    """


@hookspec
@contract(kind="behavior", permission="behavior:configure_simulation", fallback=Fallback.EMPTY)
def provide_simulation_defaults(ctx: PluginContext, world_id: int) -> Mapping[str, Any] | None:
    """Offer default ``simulationConfig`` values for a world; whatever the world authored always wins.

    Permission: ``behavior:configure_simulation``. Return: a partial simulationConfig mapping, or None.
    Failure: the plugin offers nothing (recorded).
    """

"""Throwaway plugins for the test kit's own tests: importable by name, so each tier (a sandboxed child too) runs them.

``kit`` does one thing per helper of the harness; ``Broken`` fails its registration (a quarantine to read back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsim_hooks import (
    EffectWriter,
    InteractionExecuted,
    NpcView,
    PluginContext,
    PluginManifest,
    SessionCreated,
    hookimpl,
)

manifest = PluginManifest(
    id="kit",
    name="Kit",
    version="1.0.0",
    trust="first_party",
    permissions=(
        "event:subscribe",
        "session:read",
        "session:write",
        "behavior:extend_conditions",
        "behavior:extend_effects",
        "behavior:extend_scoring",
        "behavior:configure_simulation",
    ),  # no npc:read: on_interaction_executed runs into a denial
)


def answer(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool:
    return params.get("answer") == view.npc.name


def boom(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool:
    raise RuntimeError("the kit's condition fails")


def note(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None:
    writer.set_flag("notes", [*writer.get_flag("notes", ()), params["text"]])
    writer.adjust_relationship(view.npc_key, "trust", 2.5)


def twice_the_energy(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float:
    return float(view.state.get("energy", 0)) / 50


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_condition_evaluator("answer", answer)
    ctx.behavior.register_condition_evaluator("boom", boom)
    ctx.behavior.register_effect_handler("note", note)
    ctx.behavior.register_scoring_factor("twice_the_energy", twice_the_energy)


@hookimpl
async def on_session_created(ctx: PluginContext, event: SessionCreated) -> None:
    await ctx.session.set_flag(event.session.id, "seen", {"world": event.world_id})


@hookimpl
async def on_interaction_executed(ctx: PluginContext, event: InteractionExecuted) -> None:
    await ctx.npc.get_npc(event.npc_id)  # not granted


@hookimpl
def provide_simulation_defaults(ctx: PluginContext, world_id: int) -> Mapping[str, Any] | None:
    return {"tiers": [{"id": "kit", "tickFrequencySeconds": world_id}]}


class Broken:
    """A plugin whose registration fails: the host quarantines it, the others load."""

    manifest = PluginManifest(id="broken", name="Broken", version="1.0.0", trust="first_party")

    @hookimpl
    def register_behavior(self, ctx: PluginContext) -> None:
        raise ValueError("broken on purpose")


broken = Broken()

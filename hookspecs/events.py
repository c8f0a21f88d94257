"""Event hooks: called by the backend after each commit, once per event, for every subscribed plugin enabled in
the event's world.

Permission: ``event:subscribe`` (an implementation without it is ignored and recorded at load).
Return: ignored. Failure: logged and recorded against the plugin; the event still reaches the other plugins and
the request that caused it never fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookspecs._markers import Fallback, contract, hookspec

if TYPE_CHECKING:
    from pixsim_hooks.plugin import (
        InteractionExecuted,
        LocationChanged,
        NpcSpawned,
        PluginContext,
        SessionCreated,
        SessionUpdated,
        WorldTimeAdvanced,
    )

__all__ = [
    "on_interaction_executed",
    "on_location_changed",
    "on_npc_spawned",
    "on_session_created",
    "on_session_updated",
    "on_world_time_advanced",
]

_event = contract(kind="event", permission="event:subscribe", fallback=Fallback.LOG)


@hookspec
@_event
def on_session_created(ctx: PluginContext, event: SessionCreated) -> None:
    """A game session was created. ``event.session`` is a snapshot of it."""


@hookspec
@_event
def on_session_updated(ctx: PluginContext, event: SessionUpdated) -> None:
    """A session's flags, relationships or world time changed. ``event.changed`` names which."""


@hookspec
@_event
def on_interaction_executed(ctx: PluginContext, event: InteractionExecuted) -> None:
    """The player interacted with an NPC in a session (``event.interaction``, ``event.payload``)."""


@hookspec
@_event
def on_npc_spawned(ctx: PluginContext, event: NpcSpawned) -> None:
    """An NPC was created in a world. ``event.npc`` is a snapshot of it."""


@hookspec
@_event
def on_location_changed(ctx: PluginContext, event: LocationChanged) -> None:
    """The player (``event.npc_id is None``) or an NPC moved to ``event.location_id`` in a session."""


@hookspec
@_event
def on_world_time_advanced(ctx: PluginContext, event: WorldTimeAdvanced) -> None:
    """A session's world clock moved from ``event.previous`` to ``event.current`` seconds."""

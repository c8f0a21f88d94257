"""Delivers the backend's committed events to the plugins' event hooks, scoped to the event's world."""

from __future__ import annotations

from pixsim_hooks.backend._services import Publish
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import (
    InteractionExecuted,
    LocationChanged,
    NpcSpawned,
    SessionCreated,
    SessionUpdated,
    WorldTimeAdvanced,
)

__all__ = ["EVENT_HOOKS", "host_publisher"]

EVENT_HOOKS: dict[type, str] = {
    SessionCreated: "on_session_created",
    SessionUpdated: "on_session_updated",
    InteractionExecuted: "on_interaction_executed",
    NpcSpawned: "on_npc_spawned",
    LocationChanged: "on_location_changed",
    WorldTimeAdvanced: "on_world_time_advanced",
}


def host_publisher(host: PluginHost) -> Publish:
    """A ``publish`` for :class:`GameService`: each event goes to its hook, for the plugins its world enables.

    Handlers run after the commit, isolated by the host; a failing one is recorded and never fails the request.
    Plugin writes go straight to the store (not through the service), so they publish no event of their own and
    an event handler that writes cannot trigger itself.
    """

    async def publish(event: object) -> None:
        hook = getattr(host.hook, EVENT_HOOKS[type(event)])
        world_id: int = event.world_id  # type: ignore[attr-defined]
        world = await host.storage.worlds.get_world(world_id)
        await hook(event=event, world=host.world_scope(world_id, world.meta if world else None))

    return publish

"""Delivers the backend's committed events to the plugins' event hooks, scoped to the event's world: inline in one
process, or through the deployment's event log on Redis (:func:`event_log`) to ``pixsim-hooks worker`` processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixsim_hooks.backend._services import Publish
from pixsim_hooks.host import PluginHost, Settings
from pixsim_hooks.plugin import (
    InteractionExecuted,
    LocationChanged,
    NpcSpawned,
    SessionCreated,
    SessionUpdated,
    WorldTimeAdvanced,
)

if TYPE_CHECKING:
    from pixsim_hooks.backend.events._log import RedisEventLog

__all__ = ["EVENT_HOOKS", "event_log", "event_plugins", "host_publisher"]

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


def event_plugins(host: PluginHost) -> list[str]:
    """The plugins that implement at least one event hook, in load order: each is a consumer group of the log."""
    found: dict[str, None] = {}
    for hook in EVENT_HOOKS.values():
        found.update(dict.fromkeys(getattr(host.hook, hook).implementers()))
    return [pid for pid in host.load_order if pid in found]


def event_log(settings: Settings) -> RedisEventLog | None:
    """The deployment's event log when events go through Redis (redis-py is imported only then)."""
    if settings.redis_url is None or not settings.streams_events:
        return None
    from pixsim_hooks.backend.events._log import RedisEventLog

    return RedisEventLog(settings.redis_url, hooks=EVENT_HOOKS, shards=settings.events_shards)

"""Typed events the backend publishes after each commit, delivered through the event hookspecs.

Each event names its world so that dispatch can apply the world's plugin enablement (DESIGN.md decision 8). One
event object goes to every handler: it is :func:`~pixsim_hooks.plugin.immutable` all the way down, so no handler can
change what the next one (or the API response) sees.

Every event the backend publishes carries ``event_id``, stable across redeliveries (a handler that may see an event
twice, as durable delivery allows, keeps the ids it has handled), and ``session_version``, the version of the session
the committed write produced (None for an event of no session): with them a handler can be idempotent. Neither
takes part in equality (an event built by hand has neither): two events are equal when they say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pixsim_hooks.plugin._frozen import FrozenDict, Immutable, immutable
from pixsim_hooks.plugin._snapshots import NpcSnapshot, SessionSnapshot

__all__ = [
    "InteractionExecuted",
    "LocationChanged",
    "NpcSpawned",
    "SessionCreated",
    "SessionUpdated",
    "WorldTimeAdvanced",
]


@immutable()
@dataclass(frozen=True, slots=True)
class SessionCreated(Immutable):
    world_id: int
    session: SessionSnapshot
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)


@immutable(frozen=("changed",))  # a tuple however it was built (a decoded event's list too)
@dataclass(frozen=True, slots=True)
class SessionUpdated(Immutable):
    world_id: int
    session: SessionSnapshot
    changed: tuple[str, ...] = ()  # which parts changed: "flags", "relationships", "world_time"
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)


@immutable(frozen=("payload",))
@dataclass(frozen=True, slots=True)
class InteractionExecuted(Immutable):
    world_id: int
    session_id: int
    npc_id: int
    interaction: str
    payload: Mapping[str, Any] = field(default_factory=FrozenDict)
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)


@immutable()
@dataclass(frozen=True, slots=True)
class NpcSpawned(Immutable):
    world_id: int
    npc: NpcSnapshot
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)


@immutable()
@dataclass(frozen=True, slots=True)
class LocationChanged(Immutable):
    world_id: int
    session_id: int
    location_id: int
    previous_location_id: int | None = None
    npc_id: int | None = None  # None: the player moved
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)


@immutable()
@dataclass(frozen=True, slots=True)
class WorldTimeAdvanced(Immutable):
    world_id: int
    session_id: int
    previous: float
    current: float
    event_id: str = field(default="", compare=False)
    session_version: int | None = field(default=None, compare=False)

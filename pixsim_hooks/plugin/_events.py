"""Typed events the backend publishes after each commit, delivered through the event hookspecs.

Each event names its world so that dispatch can apply the world's plugin enablement (DESIGN.md decision 8). One
event object goes to every handler: it is :func:`~pixsim_hooks.plugin.immutable` all the way down, so no handler can
change what the next one (or the API response) sees.
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


@immutable()
@dataclass(frozen=True, slots=True)
class SessionUpdated(Immutable):
    world_id: int
    session: SessionSnapshot
    changed: tuple[str, ...] = ()  # which parts changed: "flags", "relationships", "world_time"


@immutable(frozen=("payload",))
@dataclass(frozen=True, slots=True)
class InteractionExecuted(Immutable):
    world_id: int
    session_id: int
    npc_id: int
    interaction: str
    payload: Mapping[str, Any] = field(default_factory=FrozenDict)


@immutable()
@dataclass(frozen=True, slots=True)
class NpcSpawned(Immutable):
    world_id: int
    npc: NpcSnapshot


@immutable()
@dataclass(frozen=True, slots=True)
class LocationChanged(Immutable):
    world_id: int
    session_id: int
    location_id: int
    previous_location_id: int | None = None
    npc_id: int | None = None  # None: the player moved


@immutable()
@dataclass(frozen=True, slots=True)
class WorldTimeAdvanced(Immutable):
    world_id: int
    session_id: int
    previous: float
    current: float

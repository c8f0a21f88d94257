"""Typed events the backend publishes after each commit, delivered through the event hookspecs.

Each event names its world so that dispatch can apply the world's plugin enablement (DESIGN.md decision 8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pixsim_hooks.plugin._frozen import FrozenDict, freeze
from pixsim_hooks.plugin._snapshots import NpcSnapshot, SessionSnapshot

__all__ = [
    "InteractionExecuted",
    "LocationChanged",
    "NpcSpawned",
    "SessionCreated",
    "SessionUpdated",
    "WorldTimeAdvanced",
]


@dataclass(frozen=True, slots=True)
class SessionCreated:
    world_id: int
    session: SessionSnapshot


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    world_id: int
    session: SessionSnapshot
    changed: tuple[str, ...] = ()  # which parts changed: "flags", "relationships", "world_time"


@dataclass(frozen=True, slots=True)
class InteractionExecuted:
    world_id: int
    session_id: int
    npc_id: int
    interaction: str
    payload: Mapping[str, Any] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload", freeze(self.payload))


@dataclass(frozen=True, slots=True)
class NpcSpawned:
    world_id: int
    npc: NpcSnapshot


@dataclass(frozen=True, slots=True)
class LocationChanged:
    world_id: int
    session_id: int
    location_id: int
    previous_location_id: int | None = None
    npc_id: int | None = None  # None: the player moved


@dataclass(frozen=True, slots=True)
class WorldTimeAdvanced:
    world_id: int
    session_id: int
    previous: float
    current: float

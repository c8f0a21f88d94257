"""Immutable snapshots of game data: what capability reads return and what events carry.

Nothing here is a live ORM row or holds a database session. JSON fields are :class:`FrozenDict` copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pixsim_hooks.plugin._frozen import FrozenDict, Immutable, immutable

__all__ = [
    "GenerationRequest",
    "GenerationSnapshot",
    "LocationSnapshot",
    "NpcSnapshot",
    "SessionChange",
    "SessionSnapshot",
    "WorldSnapshot",
]

JSONMap = Mapping[str, Any]


@immutable(frozen=("meta",))
@dataclass(frozen=True, slots=True)
class WorldSnapshot(Immutable):
    id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("meta",))
@dataclass(frozen=True, slots=True)
class LocationSnapshot(Immutable):
    id: int
    world_id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("meta",))
@dataclass(frozen=True, slots=True)
class NpcSnapshot(Immutable):
    id: int
    world_id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("flags", "relationships"))
@dataclass(frozen=True, slots=True)
class SessionSnapshot(Immutable):
    id: int
    world_id: int
    world_time: float
    version: int
    flags: JSONMap = field(default_factory=FrozenDict)
    relationships: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("params",))
@dataclass(frozen=True, slots=True)
class GenerationSnapshot(Immutable):
    id: int
    world_id: int | None
    prompt: str
    status: str
    requested_by: str
    created_at: datetime
    params: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("params",))
@dataclass(frozen=True, slots=True)
class GenerationRequest(Immutable):
    """What ``ctx.generation.submit`` and ``POST /api/v1/generations`` both hand to the generation service."""

    prompt: str
    requested_by: str
    world_id: int | None = None
    params: JSONMap = field(default_factory=FrozenDict)


@immutable(frozen=("set_flags", "relationship_deltas"))
@dataclass(frozen=True, slots=True)
class SessionChange(Immutable):
    """One atomic, version-checked change to a session, applied all-or-nothing by the store.

    ``set_flags`` / ``delete_flags`` use full top-level flag keys (plugins' keys are already namespaced
    ``plugin:<id>:<key>`` by the capability layer). ``relationship_deltas`` maps ``"npc:<id>"`` to metric deltas
    (affinity, trust, chemistry, tension) added to the current values. ``world_time_delta`` advances the clock.
    ``expected_version``: when set, the change applies only to that version (else :class:`StaleWriteError`);
    when None the store re-reads and retries on conflict.
    """

    set_flags: JSONMap = field(default_factory=FrozenDict)
    delete_flags: tuple[str, ...] = ()
    relationship_deltas: Mapping[str, Mapping[str, float]] = field(default_factory=FrozenDict)
    world_time_delta: float = 0.0
    expected_version: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.set_flags or self.delete_flags or self.relationship_deltas or self.world_time_delta)

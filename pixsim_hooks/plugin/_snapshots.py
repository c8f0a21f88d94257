"""Immutable snapshots of game data: what capability reads return and what events carry.

Nothing here is a live ORM row or holds a database session. JSON fields are :class:`FrozenDict` copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pixsim_hooks.plugin._frozen import FrozenDict, freeze

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


def _frozen(value: JSONMap | None) -> FrozenDict:
    frozen: FrozenDict = freeze(value or {})
    return frozen


@dataclass(frozen=True, slots=True)
class WorldSnapshot:
    id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", _frozen(self.meta))


@dataclass(frozen=True, slots=True)
class LocationSnapshot:
    id: int
    world_id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", _frozen(self.meta))


@dataclass(frozen=True, slots=True)
class NpcSnapshot:
    id: int
    world_id: int
    name: str
    meta: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", _frozen(self.meta))


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    id: int
    world_id: int
    world_time: float
    version: int
    flags: JSONMap = field(default_factory=FrozenDict)
    relationships: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", _frozen(self.flags))
        object.__setattr__(self, "relationships", _frozen(self.relationships))


@dataclass(frozen=True, slots=True)
class GenerationSnapshot:
    id: int
    world_id: int | None
    prompt: str
    status: str
    requested_by: str
    created_at: datetime
    params: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What ``ctx.generation.submit`` and ``POST /api/v1/generations`` both hand to the generation service."""

    prompt: str
    requested_by: str
    world_id: int | None = None
    params: JSONMap = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))


@dataclass(frozen=True, slots=True)
class SessionChange:
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "set_flags", _frozen(self.set_flags))
        object.__setattr__(self, "relationship_deltas", _frozen(self.relationship_deltas))

    @property
    def is_empty(self) -> bool:
        return not (self.set_flags or self.delete_flags or self.relationship_deltas or self.world_time_delta)

"""The storage protocols the capability layer is written against; the backend implements them.

Every method returns immutable snapshots (see :mod:`pixsim_hooks.plugin._snapshots`), never ORM rows or sessions.
Missing rows are ``None`` from ``get_*`` and :class:`~pixsim_hooks.NotFoundError` from writes.
"""

from __future__ import annotations

from typing import Protocol

from pixsim_hooks.plugin._snapshots import (
    GenerationRequest,
    GenerationSnapshot,
    LocationSnapshot,
    NpcSnapshot,
    SessionChange,
    SessionSnapshot,
    WorldSnapshot,
)

__all__ = [
    "GenerationStore",
    "NpcStore",
    "SessionStore",
    "Storage",
    "WorldStore",
]


class WorldStore(Protocol):
    async def get_world(self, world_id: int) -> WorldSnapshot | None: ...
    async def list_locations(self, world_id: int) -> tuple[LocationSnapshot, ...]: ...
    async def get_location(self, location_id: int) -> LocationSnapshot | None: ...


class NpcStore(Protocol):
    async def get_npc(self, npc_id: int) -> NpcSnapshot | None: ...
    async def list_npcs(self, world_id: int) -> tuple[NpcSnapshot, ...]: ...


class SessionStore(Protocol):
    async def get_session(self, session_id: int) -> SessionSnapshot | None: ...

    async def apply_change(self, session_id: int, change: SessionChange) -> SessionSnapshot:
        """Apply ``change`` atomically under the optimistic ``version`` check and return the new snapshot.

        Raises NotFoundError when the session does not exist and StaleWriteError when the version check keeps
        failing (or ``change.expected_version`` does not match). Nothing is written when it raises.
        """
        ...


class GenerationStore(Protocol):
    async def submit(self, request: GenerationRequest) -> GenerationSnapshot: ...
    async def get(self, generation_id: int) -> GenerationSnapshot | None: ...


class Storage(Protocol):
    """Everything the capability layer needs from the game backend."""

    @property
    def worlds(self) -> WorldStore: ...
    @property
    def npcs(self) -> NpcStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def generations(self) -> GenerationStore: ...

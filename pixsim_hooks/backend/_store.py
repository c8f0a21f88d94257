"""``SqlStorage``: the :class:`pixsim_hooks.plugin._storage.Storage` protocol on the game database.

Each method is its own short transaction and returns immutable snapshots. Beyond the protocol (what
capabilities read) the stores carry the create / update / delete methods the HTTP API uses; plugins only ever
see the protocol, through capability facades.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pixsim_hooks.backend._journal import Emission, Journal
from pixsim_hooks.backend._models import GameLocation, GameNPC, GameWorld, Generation
from pixsim_hooks.backend._rows import (
    SqlTable,
    generation_snapshot,
    location_snapshot,
    npc_snapshot,
    world_snapshot,
)
from pixsim_hooks.backend._session_store import SqlSessionStore
from pixsim_hooks.plugin import (
    GenerationRequest,
    GenerationSnapshot,
    LocationSnapshot,
    NpcSnapshot,
    WorldSnapshot,
    thaw,
)

__all__ = ["SqlGenerationStore", "SqlNpcStore", "SqlStorage", "SqlWorldStore"]

JSONMap = Mapping[str, Any]


class SqlWorldStore(SqlTable):
    """Worlds and their locations."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], journal: Journal | None = None) -> None:
        super().__init__(sessionmaker)
        self._journal = journal

    async def get_world(self, world_id: int) -> WorldSnapshot | None:
        return await self._get(GameWorld, world_id, world_snapshot)

    async def list_worlds(self, *, limit: int | None = None, offset: int = 0) -> tuple[WorldSnapshot, ...]:
        return await self._list(GameWorld, world_snapshot, limit=limit, offset=offset)

    async def create_world(self, name: str, meta: JSONMap | None = None) -> WorldSnapshot:
        return await self._insert(GameWorld(name=name, meta=thaw(meta or {})), world_snapshot, parent="world")

    async def update_world(self, world_id: int, **values: Any) -> WorldSnapshot:
        """Replace the given columns (``name``, ``meta``); NotFoundError when the world does not exist."""
        return await self._update(GameWorld, world_id, values, world_snapshot, what="world")

    async def delete_world(self, world_id: int) -> None:
        """Delete a world with its locations, NPCs and sessions (generations keep their record, unlinked)."""

        async def journal() -> None:  # its sessions and NPCs go with it: one note says so for all of them
            await Emission().inside(self._journal, f"world:{world_id}", before=1, version=1, deleted=True)

        await self._delete(GameWorld, world_id, what="world", then=journal)

    async def list_locations(
        self, world_id: int, *, limit: int | None = None, offset: int = 0
    ) -> tuple[LocationSnapshot, ...]:
        where = GameLocation.world_id == world_id
        return await self._list(GameLocation, location_snapshot, where, limit=limit, offset=offset)

    async def get_location(self, location_id: int) -> LocationSnapshot | None:
        return await self._get(GameLocation, location_id, location_snapshot)

    async def create_location(self, world_id: int, name: str, meta: JSONMap | None = None) -> LocationSnapshot:
        row = GameLocation(world_id=world_id, name=name, meta=thaw(meta or {}))
        return await self._insert(row, location_snapshot, parent=f"world {world_id}")

    async def update_location(self, location_id: int, **values: Any) -> LocationSnapshot:
        return await self._update(GameLocation, location_id, values, location_snapshot, what="location")

    async def delete_location(self, location_id: int) -> None:
        await self._delete(GameLocation, location_id, what="location")


class SqlNpcStore(SqlTable):
    """NPCs. A spawn and a delete are journaled (an NPC has no version: its row, while it exists, is version 1)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], journal: Journal | None = None) -> None:
        super().__init__(sessionmaker)
        self._journal = journal

    async def get_npc(self, npc_id: int) -> NpcSnapshot | None:
        return await self._get(GameNPC, npc_id, npc_snapshot)

    async def list_npcs(self, world_id: int, *, limit: int | None = None, offset: int = 0) -> tuple[NpcSnapshot, ...]:
        return await self._list(GameNPC, npc_snapshot, GameNPC.world_id == world_id, limit=limit, offset=offset)

    async def create_npc(
        self, world_id: int, name: str, meta: JSONMap | None = None, emission: Emission | None = None
    ) -> NpcSnapshot:
        emission = emission or Emission()
        row = GameNPC(world_id=world_id, name=name, meta=thaw(meta or {}))

        async def journal(npc: NpcSnapshot) -> None:
            await emission.inside(self._journal, f"npc:{npc.id}", before=0, version=1, source=npc)

        return await self._insert(row, npc_snapshot, parent=f"world {world_id}", then=journal)

    async def update_npc(self, npc_id: int, **values: Any) -> NpcSnapshot:
        return await self._update(GameNPC, npc_id, values, npc_snapshot, what="NPC")

    async def delete_npc(self, npc_id: int) -> None:
        async def journal() -> None:
            await Emission().inside(self._journal, f"npc:{npc_id}", before=1, version=1, deleted=True)

        await self._delete(GameNPC, npc_id, what="NPC", then=journal)


class SqlGenerationStore(SqlTable):
    async def submit(self, request: GenerationRequest) -> GenerationSnapshot:
        """Record a generation request as ``pending``; NotFoundError when its world does not exist."""
        row = Generation(
            world_id=request.world_id,
            prompt=request.prompt,
            params=thaw(request.params),
            status="pending",
            requested_by=request.requested_by,
        )
        return await self._insert(row, generation_snapshot, parent=f"world {request.world_id}")

    async def get(self, generation_id: int) -> GenerationSnapshot | None:
        return await self._get(Generation, generation_id, generation_snapshot)


class SqlStorage:
    """The game database behind the ``Storage`` protocol: ``SqlStorage(create_sessionmaker(engine))``."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, max_attempts: int = 30, journal: Journal | None = None
    ) -> None:
        """``journal``: where each write's events are appended before its commit (the Redis event log)."""
        self._worlds = SqlWorldStore(sessionmaker, journal)
        self._npcs = SqlNpcStore(sessionmaker, journal)
        self._sessions = SqlSessionStore(sessionmaker, max_attempts=max_attempts, journal=journal)
        self._generations = SqlGenerationStore(sessionmaker)

    @property
    def worlds(self) -> SqlWorldStore:
        return self._worlds

    @property
    def npcs(self) -> SqlNpcStore:
        return self._npcs

    @property
    def sessions(self) -> SqlSessionStore:
        return self._sessions

    @property
    def generations(self) -> SqlGenerationStore:
        return self._generations

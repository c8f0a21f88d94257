"""``GameService``: the game operations behind the HTTP API, publishing typed events of each commit.

A write's events are built inside its transaction (:class:`~pixsim_hooks.backend._journal.Emission`). With the
store's journal (a deployment's Redis event log) they are appended there before the commit and workers deliver them;
otherwise they go out here, only after the write committed, and a failing ``publish`` is logged and swallowed: the
write already happened and the caller must not see it as failed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pixsim_hooks.backend._journal import Emission
from pixsim_hooks.backend._session_store import SessionWrite
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.behavior import check_npc_meta, check_world_meta
from pixsim_hooks.plugin import (
    GenerationRequest,
    GenerationSnapshot,
    InteractionExecuted,
    LocationChanged,
    LocationSnapshot,
    NotFoundError,
    NpcSnapshot,
    NpcSpawned,
    SessionChange,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    WorldSnapshot,
    WorldTimeAdvanced,
    checked_npc_key,
    detached,
)

__all__ = ["FAILPOINT_ENV", "GameService", "Publish", "drop_events"]

Publish = Callable[[object], Awaitable[None]]
JSONMap = Mapping[str, Any]
log = structlog.get_logger(__name__)
T = TypeVar("T")
PlacedT = TypeVar("PlacedT", LocationSnapshot, NpcSnapshot)
# A fault-injection point for tests of durable delivery: ``PIXSIM_FAILPOINT=after_commit`` makes the process exit
# at once after its next committed write, before anything else happens (as a replica killed there would).
FAILPOINT_ENV = "PIXSIM_FAILPOINT"


async def drop_events(event: object) -> None:
    """The default ``publish``: events are dropped until a plugin host is attached."""


class GameService:
    """Game operations over a :class:`SqlStorage` (or a sessionmaker to build one), publishing events."""

    def __init__(self, storage: SqlStorage | async_sessionmaker[AsyncSession], publish: Publish = drop_events) -> None:
        self.storage = storage if isinstance(storage, SqlStorage) else SqlStorage(storage)
        self._publish = publish

    # -- worlds
    # World and NPC meta are checked as the behavior engine reads them before they are written (ConfigError naming
    # the JSON path, nothing stored): a bad world fails at its POST / PATCH, not at its next tick.
    async def create_world(self, name: str, meta: JSONMap | None = None) -> WorldSnapshot:
        check_world_meta(meta)
        return await self.storage.worlds.create_world(name, meta)

    async def get_world(self, world_id: int) -> WorldSnapshot:
        return _found(await self.storage.worlds.get_world(world_id), f"world {world_id}")

    async def list_worlds(self, *, limit: int | None = None, offset: int = 0) -> tuple[WorldSnapshot, ...]:
        return await self.storage.worlds.list_worlds(limit=limit, offset=offset)

    async def update_world(self, world_id: int, **values: Any) -> WorldSnapshot:
        if "meta" in values:
            check_world_meta(values["meta"])
        return await self.storage.worlds.update_world(world_id, **values)

    async def delete_world(self, world_id: int) -> None:
        await self.storage.worlds.delete_world(world_id)

    # -- locations (addressed within their world: a location of another world is not found)
    async def create_location(self, world_id: int, name: str, meta: JSONMap | None = None) -> LocationSnapshot:
        return await self.storage.worlds.create_location(world_id, name, meta)

    async def list_locations(
        self, world_id: int, *, limit: int | None = None, offset: int = 0
    ) -> tuple[LocationSnapshot, ...]:
        await self.get_world(world_id)
        return await self.storage.worlds.list_locations(world_id, limit=limit, offset=offset)

    async def get_location(self, world_id: int, location_id: int) -> LocationSnapshot:
        location = await self.storage.worlds.get_location(location_id)
        return _found(_in_world(location, world_id), f"location {location_id} in world {world_id}")

    async def update_location(self, world_id: int, location_id: int, **values: Any) -> LocationSnapshot:
        await self.get_location(world_id, location_id)
        return await self.storage.worlds.update_location(location_id, **values)

    async def delete_location(self, world_id: int, location_id: int) -> None:
        await self.get_location(world_id, location_id)
        await self.storage.worlds.delete_location(location_id)

    # -- NPCs
    async def create_npc(self, world_id: int, name: str, meta: JSONMap | None = None) -> NpcSnapshot:
        check_npc_meta(meta, (await self.get_world(world_id)).meta)
        emission = Emission(lambda npc: [NpcSpawned(world_id=npc.world_id, npc=npc)])
        npc = await self.storage.npcs.create_npc(world_id, name, meta, emission=emission)
        await self._committed(emission)
        return npc

    async def list_npcs(self, world_id: int, *, limit: int | None = None, offset: int = 0) -> tuple[NpcSnapshot, ...]:
        await self.get_world(world_id)
        return await self.storage.npcs.list_npcs(world_id, limit=limit, offset=offset)

    async def get_npc(self, world_id: int, npc_id: int) -> NpcSnapshot:
        npc = await self.storage.npcs.get_npc(npc_id)
        return _found(_in_world(npc, world_id), f"NPC {npc_id} in world {world_id}")

    async def update_npc(self, world_id: int, npc_id: int, **values: Any) -> NpcSnapshot:
        await self.get_npc(world_id, npc_id)
        if "meta" in values:
            check_npc_meta(values["meta"], (await self.get_world(world_id)).meta)
        return await self.storage.npcs.update_npc(npc_id, **values)

    async def delete_npc(self, world_id: int, npc_id: int) -> None:
        await self.get_npc(world_id, npc_id)
        await self.storage.npcs.delete_npc(npc_id)

    # -- sessions
    async def create_session(
        self, world_id: int, *, flags: JSONMap | None = None, relationships: JSONMap | None = None
    ) -> SessionSnapshot:
        emission = Emission(lambda created: [SessionCreated(world_id=created.world_id, session=created)])
        session = await self.storage.sessions.create_session(
            world_id, flags=flags, relationships=relationships, emission=emission
        )
        await self._committed(emission)
        return session

    async def get_session(self, session_id: int) -> SessionSnapshot:
        return _found(await self.storage.sessions.get_session(session_id), f"session {session_id}")

    async def delete_session(self, session_id: int) -> None:
        await self.storage.sessions.delete_session(session_id)

    async def apply_change(self, session_id: int, change: SessionChange) -> SessionSnapshot:
        """Apply ``change`` (version-checked); publish SessionUpdated, and WorldTimeAdvanced if time moved."""
        return (await self._commit(session_id, change)).after

    async def set_flags(
        self, session_id: int, patch: JSONMap, *, expected_version: int | None = None
    ) -> SessionSnapshot:
        """Merge ``patch`` into the session's flags: a None value deletes that key."""
        change = SessionChange(
            set_flags={key: value for key, value in patch.items() if value is not None},
            delete_flags=tuple(key for key, value in patch.items() if value is None),
            expected_version=expected_version,
        )
        return await self.apply_change(session_id, change)

    async def change_relationship(
        self,
        session_id: int,
        npc_key: str,
        deltas: Mapping[str, float],
        *,
        expected_version: int | None = None,
    ) -> SessionSnapshot:
        """Add ``deltas`` to the metrics of ``npc_key`` (``"npc:<id>"``, an NPC of the session's world)."""
        session = await self.get_session(session_id)
        await self.get_npc(session.world_id, _npc_id(npc_key))
        change = SessionChange(relationship_deltas={npc_key: dict(deltas)}, expected_version=expected_version)
        return await self.apply_change(session_id, change)

    async def advance_time(
        self, session_id: int, seconds: float, *, expected_version: int | None = None
    ) -> SessionSnapshot:
        change = SessionChange(world_time_delta=seconds, expected_version=expected_version)
        return await self.apply_change(session_id, change)

    async def execute_interaction(
        self,
        session_id: int,
        npc_id: int,
        interaction: str,
        *,
        payload: JSONMap | None = None,
        relationship_deltas: Mapping[str, float] | None = None,
        expected_version: int | None = None,
    ) -> SessionSnapshot:
        """The player interacts with an NPC of the session's world; optional deltas apply first."""
        session = await self.get_session(session_id)
        await self.get_npc(session.world_id, npc_id)
        deltas = {f"npc:{npc_id}": dict(relationship_deltas)} if relationship_deltas else {}
        event = InteractionExecuted(session.world_id, session_id, npc_id, interaction, payload or {})
        change = SessionChange(relationship_deltas=deltas, expected_version=expected_version)
        return (await self._commit(session_id, change, lambda write: [event])).after

    async def move_player(
        self, session_id: int, location_id: int, *, expected_version: int | None = None
    ) -> SessionSnapshot:
        """Move the player to a location of the session's world (kept in ``flags["location_id"]``)."""
        session = await self.get_session(session_id)
        await self.get_location(session.world_id, location_id)
        change = SessionChange(set_flags={"location_id": location_id}, expected_version=expected_version)

        def moved(write: SessionWrite) -> list[object]:
            previous = write.before.flags.get("location_id")
            previous_id = previous if isinstance(previous, int) and not isinstance(previous, bool) else None
            return [LocationChanged(session.world_id, session_id, location_id, previous_location_id=previous_id)]

        return (await self._commit(session_id, change, moved)).after

    # -- generations
    async def submit_generation(self, request: GenerationRequest) -> GenerationSnapshot:
        """Record a pending generation: the HTTP API and ``ctx.generation.submit`` both land here."""
        return await self.storage.generations.submit(request)

    async def get_generation(self, generation_id: int) -> GenerationSnapshot:
        return _found(await self.storage.generations.get(generation_id), f"generation {generation_id}")

    # -- events
    async def _commit(
        self,
        session_id: int,
        change: SessionChange,
        then: Callable[[SessionWrite], list[object]] = lambda write: [],
    ) -> SessionWrite:
        """Write ``change``; its events are the session's (when it changed) and then ``then``'s."""

        def events(write: SessionWrite) -> list[object]:
            changed = _session_events(write, change) if write.after is not write.before else []
            return changed + then(write)

        emission = Emission(events)
        write = await self.storage.sessions.write(session_id, change, emission)
        await self._committed(emission)
        return write

    async def _committed(self, emission: Emission) -> None:
        """After a commit: the events go out here unless the journal has them."""
        if os.environ.get(FAILPOINT_ENV) == "after_commit":
            os._exit(86)
        if not emission.journaled:
            await self._emit(emission.events)

    async def _emit(self, events: tuple[object, ...]) -> None:
        for event in events:
            try:
                # The plugins' copy: the snapshot the caller gets back (and the API answers with) is not theirs.
                await self._publish(detached(event))
            except Exception:
                log.exception("event publish failed", event_type=type(event).__name__)


def _session_events(write: SessionWrite, change: SessionChange) -> list[object]:
    before, after = write.before, write.after
    changed = tuple(
        part
        for part, touched in (
            ("flags", bool(change.set_flags or change.delete_flags)),
            ("relationships", bool(change.relationship_deltas)),
            ("world_time", after.world_time != before.world_time),
        )
        if touched
    )
    events: list[object] = [SessionUpdated(world_id=after.world_id, session=after, changed=changed)]
    if after.world_time != before.world_time:
        events.append(WorldTimeAdvanced(after.world_id, after.id, previous=before.world_time, current=after.world_time))
    return events


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise NotFoundError(f"{what} not found")
    return value


def _in_world(snapshot: PlacedT | None, world_id: int) -> PlacedT | None:
    return snapshot if snapshot is not None and snapshot.world_id == world_id else None


def _npc_id(npc_key: str) -> int:
    try:
        checked_npc_key(npc_key)  # the plugins' rule: ASCII digits, no leading zero, at most 18 of them
    except ValueError:
        raise NotFoundError(f"relationship key {npc_key[:80]!r} names no NPC (expected 'npc:<id>')") from None
    return int(npc_key.removeprefix("npc:"))

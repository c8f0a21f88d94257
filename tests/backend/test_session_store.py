from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks import NotFoundError, SessionSnapshot, StaleWriteError
from pixsim_hooks.backend import GameSession, SqlSessionStore, SqlStorage, apply_session_change, create_sessionmaker
from pixsim_hooks.plugin import SessionChange


async def _session(storage: SqlStorage, **kwargs: object) -> SessionSnapshot:
    world = await storage.worlds.create_world("Harbor")
    return await storage.sessions.create_session(world.id, **kwargs)  # type: ignore[arg-type]


def test_a_change_sets_and_deletes_flags_adds_deltas_and_moves_time() -> None:
    before = SessionSnapshot(
        id=1,
        world_id=1,
        world_time=10.0,
        version=3,
        flags={"keep": 1, "drop": 2, "replace": "old"},
        relationships={"npc:1": {"affinity": 5, "note": "x"}, "npc:2": "garbage"},
    )
    change = SessionChange(
        set_flags={"replace": "new", "added": [1, 2]},
        delete_flags=("drop", "never-there"),
        relationship_deltas={"npc:1": {"affinity": 2.5, "trust": 1}, "npc:2": {"tension": -1}},
        world_time_delta=5,
    )

    after = apply_session_change(before, change)

    assert after.flags == {"keep": 1, "replace": "new", "added": (1, 2)}
    assert after.relationships == {"npc:1": {"affinity": 7.5, "trust": 1, "note": "x"}, "npc:2": {"tension": -1}}
    assert (after.world_time, after.version) == (15.0, 4)


def test_a_change_that_would_store_a_non_finite_number_is_refused() -> None:
    before = SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1)

    with pytest.raises(ValueError, match="world_time"):
        apply_session_change(before, SessionChange(world_time_delta=float("inf")))


async def test_apply_change_commits_and_bumps_the_version(storage: SqlStorage) -> None:
    session = await _session(storage, flags={"a": 1})

    after = await storage.sessions.apply_change(
        session.id, SessionChange(set_flags={"b": 2}, relationship_deltas={"npc:9": {"affinity": 1}})
    )

    assert after.version == session.version + 1
    assert await storage.sessions.get_session(session.id) == after
    assert after.flags == {"a": 1, "b": 2} and after.relationships == {"npc:9": {"affinity": 1}}


async def test_an_empty_change_writes_nothing(storage: SqlStorage) -> None:
    session = await _session(storage)

    assert await storage.sessions.apply_change(session.id, SessionChange()) == session


async def test_changing_a_missing_session_raises_not_found(storage: SqlStorage) -> None:
    with pytest.raises(NotFoundError, match="session 404"):
        await storage.sessions.apply_change(404, SessionChange(set_flags={"a": 1}))


async def test_a_pinned_version_applies_when_current_and_is_stale_otherwise(storage: SqlStorage) -> None:
    session = await _session(storage)

    pinned = await storage.sessions.apply_change(session.id, SessionChange(set_flags={"a": 1}, expected_version=1))
    with pytest.raises(StaleWriteError, match="version 2, not 1"):
        await storage.sessions.apply_change(session.id, SessionChange(set_flags={"b": 1}, expected_version=1))

    assert await storage.sessions.get_session(session.id) == pinned


async def test_a_failed_change_writes_nothing_at_all(storage: SqlStorage) -> None:
    session = await _session(storage, flags={"a": 1})

    with pytest.raises(ValueError, match="finite"):
        await storage.sessions.apply_change(
            session.id, SessionChange(set_flags={"a": 2}, relationship_deltas={"npc:1": {"trust": float("nan")}})
        )

    assert await storage.sessions.get_session(session.id) == session


async def test_fifty_concurrent_changes_through_the_store_lose_no_update(storage: SqlStorage) -> None:
    session = await _session(storage)

    await asyncio.gather(
        *(
            storage.sessions.apply_change(
                session.id, SessionChange(set_flags={f"k{i}": i}, relationship_deltas={"npc:1": {"affinity": 1}})
            )
            for i in range(50)
        )
    )

    final = await storage.sessions.get_session(session.id)
    assert final is not None
    assert final.flags == {f"k{i}": i for i in range(50)}
    assert final.relationships["npc:1"]["affinity"] == 50
    assert final.version == 51


class _AlwaysOvertaken(SqlSessionStore):
    """A store whose every read is immediately overtaken by a real concurrent write to the same row."""

    def __init__(self, engine: AsyncEngine, **kwargs: object) -> None:
        super().__init__(create_sessionmaker(engine), **kwargs)  # type: ignore[arg-type]
        self.reads = 0

    async def _read(self, session_id: int) -> SessionSnapshot:
        snapshot = await super()._read(session_id)
        self.reads += 1
        async with self._sessionmaker() as db, db.begin():
            bump = GameSession.version + 1
            await db.execute(update(GameSession).where(GameSession.id == session_id).values(version=bump))
        return snapshot


async def test_a_writer_that_keeps_losing_gives_up_with_stale_write_and_writes_nothing(
    storage: SqlStorage, engine: AsyncEngine
) -> None:
    session = await _session(storage)
    store = _AlwaysOvertaken(engine, max_attempts=4, backoff_s=0.0001)

    with pytest.raises(StaleWriteError, match="gave up after 4 attempts"):
        await store.apply_change(session.id, SessionChange(set_flags={"lost": True}))

    final = await storage.sessions.get_session(session.id)
    assert store.reads == 4
    assert final is not None and final.flags == {} and final.version == session.version + 4


async def test_a_pinned_version_is_not_retried_when_it_loses_the_race(storage: SqlStorage, engine: AsyncEngine) -> None:
    session = await _session(storage)
    store = _AlwaysOvertaken(engine)

    with pytest.raises(StaleWriteError):
        await store.apply_change(session.id, SessionChange(set_flags={"a": 1}, expected_version=session.version))

    assert store.reads == 1

"""The event log on a real redis-server: every write appends its events before its commit, in its session's stream
and in version order, and leaves the note that lets a worker tell a committed write from one that died.

Each test starts its own ``redis-server`` (``redis_url``) and runs on the backend's test database (SQLite, or
PostgreSQL in CI)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks import NpcSpawned, SessionCreated, SessionUpdated, WorldTimeAdvanced
from pixsim_hooks.backend import GameService, SqlStorage, create_sessionmaker
from pixsim_hooks.backend._journal import Note
from pixsim_hooks.backend.events._bridge import EVENT_HOOKS
from pixsim_hooks.backend.events._log import Envelope, RedisEventLog, envelope_of
from pixsim_hooks.plugin import SessionChange
from tests.backend.conftest import Recorder

SHARDS = 4


@pytest.fixture
async def log(redis_url: str) -> AsyncIterator[RedisEventLog]:
    log = RedisEventLog(redis_url, hooks=EVENT_HOOKS, shards=SHARDS)
    await log.redis.flushdb()
    yield log
    await log.close()


@pytest.fixture
def journaled(engine: AsyncEngine, log: RedisEventLog) -> SqlStorage:
    return SqlStorage(create_sessionmaker(engine), journal=log)


@pytest.fixture
def service(journaled: SqlStorage, recorder: Recorder) -> GameService:
    return GameService(journaled, recorder)


async def appended(log: RedisEventLog, subject: str) -> list[Envelope]:
    """What the log holds for ``subject``, read straight from every stream (not through the code's own shard rule)."""
    found = []
    for shard in range(SHARDS):
        for _, fields in await log.redis.xrange(f"pixsim:v1:events:s:{shard}"):
            envelope = envelope_of(fields["e"])
            if envelope.subject == subject:
                found.append(envelope)
    return found


async def gone_keys(log: RedisEventLog) -> list[str]:
    return sorted([key async for key in log.redis.scan_iter(match="pixsim:v1:events:gone:*")])


async def test_a_journaled_write_appends_its_events_instead_of_delivering_them_inline(
    service: GameService, log: RedisEventLog, recorder: Recorder
) -> None:
    world = await service.create_world("Harbor")
    created = await service.create_session(world.id)
    after = await service.advance_time(created.id, 30.0)

    assert recorder.events == []
    events = await appended(log, f"session:{created.id}")
    assert [e.event for e in events] == [
        SessionCreated(world_id=world.id, session=created),
        SessionUpdated(world_id=world.id, session=after, changed=("world_time",)),
        WorldTimeAdvanced(world.id, created.id, previous=0.0, current=30.0),
    ]
    assert [(e.version, e.hook) for e in events] == [
        (1, "on_session_created"),
        (2, "on_session_updated"),
        (2, "on_world_time_advanced"),
    ]
    # One write, one write id; each event its own id, which the delivered event carries.
    assert events[1].write_id == events[2].write_id != events[0].write_id
    assert len({e.event_id for e in events}) == 3
    assert [e.event.event_id for e in events] == [e.event_id for e in events]  # type: ignore[attr-defined]
    assert [e.event.session_version for e in events] == [1, 2, 2]  # type: ignore[attr-defined]


async def test_an_npc_spawn_is_appended_under_the_npc_with_no_session_version(
    service: GameService, log: RedisEventLog
) -> None:
    world = await service.create_world("Harbor")
    npc = await service.create_npc(world.id, "Alex")

    [envelope] = await appended(log, f"npc:{npc.id}")
    assert envelope.event == NpcSpawned(world_id=world.id, npc=npc)
    assert envelope.event.session_version is None  # type: ignore[attr-defined]
    assert envelope.session_id is None


async def test_every_event_of_a_session_is_in_one_stream_in_the_order_its_versions_committed(
    service: GameService, log: RedisEventLog
) -> None:
    import asyncio

    world = await service.create_world("Harbor")
    sessions = [await service.create_session(world.id) for _ in range(5)]

    async def writes(session_id: int) -> None:
        for n in range(8):
            await service.set_flags(session_id, {"n": n})

    await asyncio.gather(*(writes(s.id) for s in sessions))

    for session in sessions:
        events = await appended(log, f"session:{session.id}")
        assert [e.version for e in events] == list(range(1, 10))
        streams = set()
        for shard in range(SHARDS):
            entries = await log.redis.xrange(f"pixsim:v1:events:s:{shard}")
            if any(envelope_of(f["e"]).subject == f"session:{session.id}" for _, f in entries):
                streams.add(shard)
        assert len(streams) == 1


async def test_writes_that_committed_mark_nothing_gone(service: GameService, log: RedisEventLog) -> None:
    world = await service.create_world("Harbor")
    session = await service.create_session(world.id)
    for n in range(4):
        await service.set_flags(session.id, {"n": n})
    await service.execute_interaction(session.id, (await service.create_npc(world.id, "Alex")).id, "talk")
    await service.delete_session(session.id)

    assert await gone_keys(log) == []


async def test_a_write_that_never_committed_is_marked_gone_by_the_next_write_of_its_session(
    service: GameService, log: RedisEventLog
) -> None:
    world = await service.create_world("Harbor")
    session = await service.create_session(world.id)
    # A write appended at version 2 whose transaction then died: the database still shows version 1.
    phantom = SessionUpdated(world_id=world.id, session=session)
    await log.record(Note(f"session:{session.id}", before=1, version=2, write_id="died"), [phantom])

    after = await service.set_flags(session.id, {"real": True})

    assert after.version == 2
    assert await log.gone("died")
    real = (await appended(log, f"session:{session.id}"))[-1]
    assert real.version == 2 and not await log.gone(real.write_id)


async def test_a_plugin_write_which_publishes_nothing_still_finds_out_a_dead_write(
    journaled: SqlStorage, service: GameService, log: RedisEventLog
) -> None:
    world = await service.create_world("Harbor")
    session = await service.create_session(world.id)
    await log.record(Note(f"session:{session.id}", before=1, version=2, write_id="died"), [])

    # What a plugin's capability does: the store's write, with no events of its own.
    await journaled.sessions.write(session.id, SessionChange(set_flags={"plugin:x:seen": True}))

    assert await log.gone("died")
    assert [e.version for e in await appended(log, f"session:{session.id}")] == [1]  # it appended no event


async def test_a_deleted_session_and_a_deleted_world_are_noted_as_deleted(
    service: GameService, log: RedisEventLog
) -> None:
    world = await service.create_world("Harbor")
    kept, deleted = await service.create_session(world.id), await service.create_session(world.id)
    await service.delete_session(deleted.id)

    assert await log.deleted(f"session:{deleted.id}")
    assert not await log.deleted(f"session:{kept.id}")
    assert not await log.deleted(f"world:{world.id}")
    await service.delete_world(world.id)
    assert await log.deleted(f"world:{world.id}")


async def test_with_redis_unreachable_a_write_commits_and_its_events_are_delivered_inline(
    engine: AsyncEngine, recorder: Recorder
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = RedisEventLog(f"redis://127.0.0.1:{port}/0", hooks=EVENT_HOOKS)
    service = GameService(SqlStorage(create_sessionmaker(engine), journal=down), recorder)
    try:
        world = await service.create_world("Harbor")
        session = await service.create_session(world.id)
        after = await service.set_flags(session.id, {"a": 1})
    finally:
        await down.close()

    assert (await service.get_session(session.id)).version == after.version == 2
    assert recorder.events == [
        SessionCreated(world_id=world.id, session=session),
        SessionUpdated(world_id=world.id, session=after, changed=("flags",)),
    ]


def test_the_shard_of_a_subject_is_the_same_in_every_process() -> None:
    subjects = [f"session:{n}" for n in range(1, 40)] + ["npc:3", "npc:1234567"]
    here = RedisEventLog("redis://127.0.0.1:1/0", hooks=EVENT_HOOKS, shards=8)
    code = (
        "import json, sys\n"
        "from pixsim_hooks.backend.events._log import RedisEventLog\n"
        "log = RedisEventLog('redis://127.0.0.1:1/0', hooks={}, shards=8)\n"
        "print(json.dumps([log.shard_of(s) for s in json.loads(sys.argv[1])]))\n"
    )
    for seed in ("1", "2"):  # str hashes differ between these interpreters; the shards must not
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(subjects)], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == [here.shard_of(s) for s in subjects]
    assert len({here.shard_of(s) for s in subjects}) > 1  # and they do spread


async def test_trim_keeps_exactly_what_some_group_has_not_acknowledged(log: RedisEventLog) -> None:
    stream = log.stream(0)
    for group in ("a", "b"):
        await log.redis.xgroup_create(stream, group, id="$", mkstream=True)
    ids = [await log.redis.xadd(stream, {"e": str(n)}) for n in range(4)]
    for entry_id, _ in await log.read_new(stream, "a", "worker", count=10, block_ms=10):
        await log.ack(stream, "a", entry_id)
    read_by_b = await log.read_new(stream, "b", "worker", count=3, block_ms=10)  # 3 read, the 4th not yet
    await log.ack(stream, "b", read_by_b[0][0])

    await log.trim(stream)
    assert [i for i, _ in await log.redis.xrange(stream)] == ids[1:]  # b still has 2 pending and 1 unread

    for entry_id, _ in read_by_b[1:]:
        await log.ack(stream, "b", entry_id)
    await log.trim(stream)
    assert [i for i, _ in await log.redis.xrange(stream)] == ids[3:]  # only the one b has not read

    for entry_id, _ in await log.read_new(stream, "b", "worker", count=10, block_ms=10):
        await log.ack(stream, "b", entry_id)
    await log.trim(stream)
    assert await log.redis.xlen(stream) == 0

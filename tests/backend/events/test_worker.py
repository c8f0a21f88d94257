"""The event worker on a real redis-server and the test database: it delivers each committed event to each plugin
at least once and in order per session, retries a failing handler with a new delivery each time, dead-letters an
event after ``events_max_attempts``, re-delivers a dead letter to its plugin alone, drops an event whose write never
committed, and leaves what it had not finished to the next holder of its lane.

Workers run in this test's event loop here (the delivery tests of ``test_delivery.py`` kill real worker
processes). A test waits for what the plugin was handed, which wakes it: no clock decides anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from pixsim_hooks import PluginManifest, SessionCreated, SessionSnapshot, SessionUpdated, hookimpl
from pixsim_hooks.backend import GameService, SqlStorage, create_sessionmaker
from pixsim_hooks.backend._journal import Note
from pixsim_hooks.backend.events._bridge import EVENT_HOOKS
from pixsim_hooks.backend.events._log import RedisEventLog
from pixsim_hooks.backend.events._worker import EventWorker
from pixsim_hooks.host import PluginHost, Settings, create_host
from tests.backend.conftest import Recorder

SHARDS = 2
BOUND_S = 20.0
Fails = Callable[[Any, int], bool]  # (event, how many times this event was handed over) -> raise?


class Handler:
    """Keeps every event it is handed; fails when ``fails`` says so."""

    def __init__(self, plugin_id: str = "handler", fails: Fails = lambda event, n: False) -> None:
        self.manifest = PluginManifest(
            id=plugin_id, name=plugin_id, version="1.0.0", trust="first_party", permissions=("event:subscribe",)
        )
        self.fails = fails
        self.handed: list[Any] = []  # every call, failed or not
        self.handled: list[Any] = []  # the calls that succeeded
        self._changed = asyncio.Event()

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        self._take(event)

    @hookimpl
    def on_session_updated(self, ctx: Any, event: SessionUpdated) -> None:
        self._take(event)

    def _take(self, event: Any) -> None:
        self.handed.append(event)
        self._changed.set()
        if self.fails(event, sum(e.event_id == event.event_id for e in self.handed)):
            raise RuntimeError(f"cannot handle version {event.session_version}")
        self.handled.append(event)

    def times_handed(self, event_id: str) -> int:
        return sum(e.event_id == event_id for e in self.handed)

    async def until(self, holds: Callable[[Handler], bool], what: str) -> None:
        async with asyncio.timeout(BOUND_S):
            while not holds(self):
                self._changed.clear()
                try:
                    await self._changed.wait()
                except TimeoutError:
                    raise AssertionError(f"{what}; handed {self.versions(self.handed)}") from None

    @staticmethod
    def versions(events: list[Any]) -> list[tuple[int, int | None]]:
        return [(e.session.id, e.session_version) for e in events]


@dataclass
class Running:
    worker: EventWorker
    host: PluginHost
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def stopped(self) -> None:
        self.stop.set()
        await self.task
        await self.host.shutdown()

    async def until_done(self, plugin_id: str, outcome: str, count: int) -> None:
        """Until the worker is done with ``count`` entries of ``plugin_id`` that way (woken by the worker)."""
        async with asyncio.timeout(BOUND_S):
            while self.worker.outcomes[(plugin_id, outcome)] < count:
                await self.worker.progressed()


@dataclass
class Deployment:
    settings: Settings
    storage: SqlStorage
    log: RedisEventLog
    service: GameService
    running: list[Running] = field(default_factory=list)

    async def worker(self, *plugins: Handler, name: str = "w1", **changes: Any) -> Running:
        settings = self.settings.model_copy(update=changes)
        host = create_host(settings, storage=self.storage, plugins=list(plugins), entry_points=[])
        await host.load()
        worker = EventWorker(host, self.storage, self.log, settings, name=name)
        stop = asyncio.Event()
        running = Running(worker, host, stop, asyncio.create_task(worker.run(stop)))
        self.running.append(running)
        return running

    async def pending(self, plugin_id: str) -> int:
        total = 0
        for stream in (*self.log.streams(), self.log.redrive_stream(plugin_id)):
            total += int((await self.log.redis.xpending(stream, plugin_id))["pending"])
        return total


@pytest.fixture
async def deployment(engine: AsyncEngine, database_url: str, redis_url: str) -> AsyncIterator[Deployment]:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        control_reconcile_s=3600,
        events_shards=SHARDS,
        events_lease_s=1.0,
        events_backoff_s=0.01,
        events_max_backoff_s=0.05,
        events_max_attempts=3,
        events_commit_horizon_s=0.5,
    )
    log = RedisEventLog(redis_url, hooks=EVENT_HOOKS, shards=SHARDS)
    storage = SqlStorage(create_sessionmaker(engine), journal=log)
    found = Deployment(settings, storage, log, GameService(storage, Recorder()))
    yield found
    for running in found.running:
        if not running.task.done():
            await running.stopped()
    await log.close()


async def session_writes(deployment: Deployment, *plugins: str, writes: int = 3) -> tuple[int, list[int]]:
    """A world and a session with ``writes`` flag changes after its creation: the session's id and versions."""
    await deployment.log.ensure_groups(list(plugins))  # as a server does before it takes a write
    world = await deployment.service.create_world("Harbor")
    session = await deployment.service.create_session(world.id)
    for n in range(writes):
        await deployment.service.set_flags(session.id, {"n": n})
    return session.id, list(range(1, writes + 2))


async def session_with_a_ghost(deployment: Deployment) -> SessionSnapshot:
    """A session at version 1, and after its creation an event "ghost.0" appended at version 2 by a transaction that
    then died (its write id: "ghost"): the database never showed it."""
    await deployment.log.ensure_groups(["handler"])
    world = await deployment.service.create_world("Harbor")
    session = await deployment.service.create_session(world.id)
    ghost = SessionUpdated(world_id=world.id, session=session, event_id="ghost.0", session_version=2)
    await deployment.log.record(Note(f"session:{session.id}", before=1, version=2, write_id="ghost"), [ghost])
    return session


async def test_each_committed_event_is_delivered_once_in_version_order(deployment: Deployment) -> None:
    handler = Handler()
    _, versions = await session_writes(deployment, "handler", writes=5)

    running = await deployment.worker(handler)
    await handler.until(lambda h: len(h.handled) == len(versions), "every event delivered")
    await running.stopped()

    assert [e.session_version for e in handler.handed] == versions
    assert len({e.event_id for e in handler.handed}) == len(versions)
    assert await deployment.pending("handler") == 0
    assert running.worker.outcomes == {("handler", "delivered"): len(versions)}


async def test_events_committed_while_the_worker_runs_are_delivered_too(deployment: Deployment) -> None:
    handler = Handler()
    await deployment.log.ensure_groups(["handler"])
    running = await deployment.worker(handler)
    world = await deployment.service.create_world("Harbor")
    session = await deployment.service.create_session(world.id)
    await deployment.service.set_flags(session.id, {"a": 1})

    await handler.until(lambda h: len(h.handled) == 2, "both events delivered")
    await running.stopped()
    assert [type(e) for e in handler.handled] == [SessionCreated, SessionUpdated]


async def test_a_failing_handler_is_retried_each_time_as_a_new_delivery_until_it_succeeds(
    deployment: Deployment,
) -> None:
    handler = Handler(fails=lambda event, n: event.session_version == 2 and n < 3)
    _, versions = await session_writes(deployment, "handler", writes=2)

    await deployment.worker(handler)
    await handler.until(lambda h: len(h.handled) == len(versions), "every event delivered in the end")

    assert [e.session_version for e in handler.handed] == [1, 2, 2, 2, 3]  # the next waits for the retried one
    assert [e.session_version for e in handler.handled] == versions
    assert await deployment.log.dead_letters("handler") == []


async def test_an_event_a_handler_always_fails_is_dead_lettered_after_max_attempts_and_the_rest_go_on(
    deployment: Deployment,
) -> None:
    handler = Handler(fails=lambda event, n: event.session_version == 2)
    await session_writes(deployment, "handler", writes=2)

    running = await deployment.worker(handler)
    await running.until_done("handler", "delivered", 2)  # the events before and after the poisoned one

    assert [e.session_version for e in handler.handed] == [1, 2, 2, 2, 3]  # events_max_attempts = 3
    [dead] = await deployment.log.dead_letters("handler")
    poisoned = handler.handed[1]
    assert (dead.event_id, dead.attempts, dead.session_id) == (poisoned.event_id, 3, poisoned.session.id)
    assert dead.event_type == "SessionUpdated"
    assert "cannot handle version 2" in dead.error
    assert await deployment.pending("handler") == 0


async def test_a_redriven_dead_letter_is_delivered_again_to_its_own_plugin_alone(deployment: Deployment) -> None:
    broken = {"yes": True}
    failing = Handler("failing", fails=lambda event, n: broken["yes"] and event.session_version == 2)
    bystander = Handler("bystander")
    _, versions = await session_writes(deployment, "failing", "bystander", writes=1)

    running = await deployment.worker(failing, bystander)
    await running.until_done("bystander", "delivered", len(versions))
    await running.until_done("failing", "dead_lettered", 1)
    [dead] = await deployment.log.dead_letters("failing")
    assert await deployment.pending("failing") == 0

    broken["yes"] = False
    redriven = await deployment.log.redrive("failing", dead.entry_id)

    assert redriven is not None and redriven.event_id == dead.event_id
    await running.until_done("failing", "delivered", 2)
    assert failing.handled[-1].event_id == dead.event_id
    assert await deployment.log.dead_letters("failing") == []
    assert await deployment.log.redrive("failing", dead.entry_id) is None  # once only
    assert [e.session_version for e in bystander.handed] == versions  # nothing twice for the other plugin


async def test_an_event_whose_write_was_superseded_is_dropped_and_the_real_one_delivered(
    deployment: Deployment,
) -> None:
    handler = Handler()
    session = await session_with_a_ghost(deployment)
    real = await deployment.service.set_flags(session.id, {"real": True})  # version 2, committed this time

    running = await deployment.worker(handler)
    await running.until_done("handler", "delivered", 2)
    assert [e.session for e in handler.handled] == [session, real]
    assert running.worker.outcomes[("handler", "dropped")] == 1
    assert "ghost.0" not in {e.event_id for e in handler.handed}


async def test_an_event_whose_write_never_shows_is_dropped_after_the_horizon_and_the_session_goes_on(
    deployment: Deployment,
) -> None:
    handler = Handler()
    session = await session_with_a_ghost(deployment)

    running = await deployment.worker(handler)
    await running.until_done("handler", "dropped", 1)  # after the horizon: the database never showed version 2
    assert [e.session_version for e in handler.handled] == [1]
    await deployment.service.set_flags(session.id, {"after": True})  # version 2, for real this time
    await running.until_done("handler", "delivered", 2)

    assert "ghost.0" not in {e.event_id for e in handler.handed}
    assert [e.session_version for e in handler.handled] == [1, 2]


async def test_the_events_of_a_session_deleted_since_are_still_delivered(deployment: Deployment) -> None:
    handler = Handler()
    session_id, versions = await session_writes(deployment, "handler", writes=2)
    await deployment.service.delete_session(session_id)

    await deployment.worker(handler)
    await handler.until(lambda h: len(h.handled) == len(versions), "every event of the deleted session")
    assert [e.session_version for e in handler.handled] == versions


async def test_a_plugin_disabled_in_the_worker_is_handed_nothing_and_its_events_are_acknowledged(
    deployment: Deployment,
) -> None:
    off, on = Handler("off"), Handler("on")
    _, versions = await session_writes(deployment, "off", "on", writes=1)

    running = await deployment.worker(off, on, plugins_disabled=["off"])
    await running.until_done("on", "delivered", len(versions))
    await running.until_done("off", "absent", len(versions))

    assert off.handed == []
    assert await deployment.pending("off") == 0
    assert await deployment.log.dead_letters("off") == []


async def test_a_worker_stopped_mid_retry_leaves_the_event_to_the_next_holder_which_delivers_it(
    deployment: Deployment,
) -> None:
    first = Handler(fails=lambda event, n: event.session_version == 2)
    _, versions = await session_writes(deployment, "handler", writes=1)

    # A long backoff: the first worker is stopped while it waits to retry version 2.
    running = await deployment.worker(first, events_backoff_s=3600, events_max_backoff_s=3600)
    await first.until(lambda h: len(h.handed) == 2, "version 2 handed over once and failed")
    await running.stopped()
    assert await deployment.pending("handler") == 1
    leases = [key async for key in deployment.log.redis.scan_iter(match="pixsim:v1:events:lease:*")]
    assert leases == []  # let go at once, not left to expire

    second = Handler()
    await deployment.worker(second, name="w2")
    await second.until(lambda h: len(h.handled) == len(versions) - 1, "the rest delivered by the next holder")
    assert [e.session_version for e in second.handled] == versions[1:]
    assert await deployment.pending("handler") == 0


async def test_a_lane_that_fails_on_the_database_lets_go_and_delivers_the_event_when_taken_again(
    deployment: Deployment, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Handler()
    _, versions = await session_writes(deployment, "handler", writes=1)
    # The worker's own store, whose first session read fails as a dropped database connection would.
    own = SqlStorage(create_sessionmaker(engine), journal=deployment.log)
    read = own.sessions.get_session
    failed: list[int] = []

    async def once_broken(session_id: int) -> Any:
        if not failed:
            failed.append(session_id)
            raise OperationalError("SELECT", {}, ConnectionResetError("connection reset"))
        return await read(session_id)

    monkeypatch.setattr(own.sessions, "get_session", once_broken)
    deployment.storage = own

    with capture_logs() as logs:
        running = await deployment.worker(handler)
        await running.until_done("handler", "delivered", len(versions))

    assert failed and [e.session_version for e in handler.handed] == versions  # each once: the failure was before
    assert any(entry["event"] == "event lane failed" for entry in logs)
    assert await deployment.pending("handler") == 0


async def test_a_world_that_does_not_enable_the_plugin_gets_none_of_its_events_delivered_to_it(
    deployment: Deployment,
) -> None:
    handler, other = Handler(), Handler("other")
    await deployment.log.ensure_groups(["handler", "other"])
    meta = {"behavior": {"version": 2, "enabledPlugins": ["other"]}}
    world = await deployment.service.create_world("Walled", meta=meta)
    await deployment.service.create_session(world.id)

    running = await deployment.worker(handler, other)
    await running.until_done("other", "delivered", 1)
    await running.until_done("handler", "absent", 1)
    assert handler.handed == [] and len(other.handled) == 1


async def test_two_workers_share_the_lanes_and_deliver_every_event_once_in_order(deployment: Deployment) -> None:
    handler = Handler()  # the same plugin object in both workers' hosts: one record of what either handled
    await deployment.log.ensure_groups(["handler"])
    await deployment.worker(handler, name="w1")
    await deployment.worker(handler, name="w2")
    world = await deployment.service.create_world("Harbor")
    sessions = [await deployment.service.create_session(world.id) for _ in range(6)]
    for n in range(3):
        for session in sessions:
            await deployment.service.set_flags(session.id, {"n": n})

    await handler.until(lambda h: len(h.handled) == 24, "every event delivered by one worker or the other")
    assert len({e.event_id for e in handler.handed}) == len(handler.handed) == 24  # none twice, none lost
    for session in sessions:
        assert [e.session_version for e in handler.handled if e.session.id == session.id] == [1, 2, 3, 4]


async def test_a_worker_stopped_while_it_waits_for_a_commit_stops_and_leaves_the_event_pending(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Handler()
    await session_with_a_ghost(deployment)
    reads: list[int] = []
    ghost_looked_at = asyncio.Event()
    read = deployment.storage.sessions.get_session

    async def counted(session_id: int) -> Any:
        reads.append(session_id)
        if len(reads) == 2:  # the creation's check, then the ghost's first
            ghost_looked_at.set()
        return await read(session_id)

    monkeypatch.setattr(deployment.storage.sessions, "get_session", counted)
    waiting = await deployment.worker(handler, events_commit_horizon_s=3600)
    async with asyncio.timeout(BOUND_S):
        await ghost_looked_at.wait()  # the worker now waits for the database to show version 2

    at_stop = len(reads)
    await waiting.stopped()

    assert len(reads) <= at_stop + 1  # it stopped asking the database (at most the look already under way)
    assert waiting.worker.outcomes[("handler", "dropped")] == 0
    assert await deployment.pending("handler") == 1  # the ghost, undecided: the next holder decides it
    after = await deployment.worker(handler, name="w2")
    await after.until_done("handler", "dropped", 1)
    assert await deployment.pending("handler") == 0

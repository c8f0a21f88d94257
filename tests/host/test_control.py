"""The operator's word on a plugin holds in every process of a deployment (issue 13): hosts sharing one real
redis-server, each with its own plugins, agree on enabled / disabled / quarantined, and on a circuit breaker once a
quorum of them has seen the plugin fail.

The hosts here live in one pytest process but share nothing but Redis (each its own replica id, its own plugin
objects); ``tests/backend/test_deployment.py`` does the same with server processes. Waits are on the state itself,
with generous bounds; how fast a word travels is a figure of ``make bench``, not asserted here. The reconcile period
is an hour unless a test says otherwise, so only the pub/sub message can carry a word in time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from pixsim_hooks import hookimpl
from pixsim_hooks.host import BreakerState, PluginHost, PluginState, Settings, SharedWord, WorldScope, create_host
from tests.host.plugins import manifest
from tests.host.test_host import created
from tests.redis_server import RedisServer

BOUND_S = 10.0  # far above what a word takes (milliseconds); only a word that never arrives reaches it
HOUR = 3600.0


class Notes:
    """A plugin with a lifecycle the tests can count."""

    def __init__(self) -> None:
        self.manifest = manifest("notes", "event:subscribe")
        self.disabled = 0

    @hookimpl
    def on_disable(self, ctx: Any) -> None:
        self.disabled += 1


class Crashy:
    def __init__(self) -> None:
        self.manifest = manifest("crashy")
        self.fail = False

    @hookimpl
    def on_enable(self, ctx: Any) -> None:
        if self.fail:
            raise RuntimeError("cannot start today")


MakeHost = Callable[..., Awaitable[PluginHost]]


@pytest.fixture
async def make_host(redis_url: str) -> AsyncIterator[MakeHost]:
    """``await make_host("a", Notes())``: a loaded host named ``a`` in the deployment on ``redis_url``."""
    hosts: list[PluginHost] = []

    async def make(
        replica: str, *plugins: object, url: str | None = None, reconcile_s: float = HOUR, **more: Any
    ) -> PluginHost:
        settings = Settings(redis_url=url or redis_url, replica_id=replica, control_reconcile_s=reconcile_s, **more)
        host = create_host(settings, plugins=plugins, entry_points=[])
        await host.load()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        await host.shutdown()


async def until(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    """Wait for ``check`` (a function, or a coroutine function reading Redis) to hold, bounded; whether it did.
    The words arrive on each host's own listener task, and the reports in Redis: looking again is how to see them."""
    end = time.monotonic() + BOUND_S
    while not await _holds(check):
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.01)
    return True


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    answer = check()
    return await answer if inspect.isawaitable(answer) else answer


def state(host: PluginHost, plugin_id: str = "notes") -> PluginState:
    return host.plugin(plugin_id).state


async def test_disabling_in_one_process_disables_in_the_others_and_runs_their_on_disable(make_host: MakeHost) -> None:
    mine, others = Notes(), [Notes(), Notes()]
    a = await make_host("a", mine)
    b, c = [await make_host(name, notes) for name, notes in zip("bc", others, strict=True)]
    await a.disable("notes")
    assert await until(lambda: state(b) is PluginState.DISABLED and state(c) is PluginState.DISABLED)
    assert [n.disabled for n in (mine, *others)] == [1, 1, 1]  # each process ran its own on_disable, once
    await c.enable("notes")
    assert await until(lambda: state(a) is PluginState.ENABLED and state(b) is PluginState.ENABLED)


async def test_a_process_that_joins_later_starts_with_the_deployments_word(make_host: MakeHost) -> None:
    a = await make_host("a", Notes())
    await a.disable("notes")
    late = await make_host("late", Notes())
    assert state(late) is PluginState.DISABLED  # applied before load() returned: it never served it enabled


async def test_a_word_written_without_a_message_is_caught_up_by_the_reconcile(
    make_host: MakeHost, redis_url: str
) -> None:
    b = await make_host("b", Notes(), reconcile_s=0.2)
    client = aioredis.from_url(redis_url, decode_responses=True)
    await client.hset("pixsim:v1:plugins", "notes", SharedWord("disabled", by="elsewhere").dumps())  # no publish
    await client.aclose()
    assert await until(lambda: state(b) is PluginState.DISABLED)


async def test_a_quarantine_at_run_time_holds_everywhere_with_its_reason(make_host: MakeHost) -> None:
    failing, other = Crashy(), Crashy()
    a = await make_host("a", failing)
    b = await make_host("b", other)
    await a.disable("crashy")
    assert await until(lambda: state(b, "crashy") is PluginState.DISABLED)
    failing.fail = True
    await a.enable("crashy")  # its on_enable fails here: quarantined in a
    assert state(a, "crashy") is PluginState.QUARANTINED
    assert await until(lambda: state(b, "crashy") is PluginState.QUARANTINED)
    reason = b.plugin("crashy").reason or ""
    assert reason.startswith("quarantined in a: ") and "on_enable" in reason


async def test_a_load_time_refusal_stays_in_its_own_process(make_host: MakeHost) -> None:
    class Broken(Notes):
        @hookimpl
        def on_load(self, ctx: Any) -> None:
            raise RuntimeError("a dependency only this machine lacks")

    a = await make_host("a", Broken())
    b = await make_host("b", Notes())
    assert state(a) is PluginState.QUARANTINED
    deployment = await b.control.deployment()
    assert "notes" not in deployment.words and state(b) is PluginState.ENABLED


async def test_the_deployment_lists_every_process_and_its_view(make_host: MakeHost) -> None:
    a = await make_host("a", Notes())
    await make_host("b", Notes())
    await a.disable("notes")
    seen = await a.control.deployment()
    assert seen.shared and seen.connected and seen.replica == "a"
    assert (seen.words["notes"].state, seen.words["notes"].by) == ("disabled", "a")

    async def both_disabled() -> bool:
        views = {r.replica: r.plugins for r in (await a.control.deployment()).replicas}
        return views == {"a": {"notes": "disabled"}, "b": {"notes": "disabled"}}

    assert await until(both_disabled), "the replicas' views never showed the word"


class OwnRedis:
    """A redis-server of the test's own, which it can stop and start again on the same port (with no data)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.server = RedisServer(directory)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        self.server = RedisServer(self.directory, port=self.server.port)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path / "own-redis")
    yield redis
    redis.stop()


async def test_with_redis_gone_each_process_serves_on_and_catches_up_when_it_is_back(
    make_host: MakeHost, own_redis: OwnRedis
) -> None:
    a = await make_host("a", Notes(), url=own_redis.url)
    b = await make_host("b", Notes(), url=own_redis.url)
    own_redis.stop()
    await a.disable("notes")  # the operator's word is in force here at once, and kept to be shared
    assert state(a) is PluginState.DISABLED and state(b) is PluginState.ENABLED
    assert await until(lambda: not getattr(b.control, "connected", True))  # b says it lost Redis
    assert (await a.control.deployment()).connected is False
    own_redis.start_again()
    assert await until(lambda: state(b) is PluginState.DISABLED)  # a published its word once Redis was back
    assert await until(lambda: getattr(b.control, "connected", False))


async def test_without_redis_a_host_is_a_deployment_of_one() -> None:
    host = create_host(Settings(), plugins=[Notes()], entry_points=[])
    await host.load()
    try:
        await host.disable("notes")
        seen = await host.control.deployment()
        assert (seen.shared, seen.connected, [r.replica for r in seen.replicas]) == (
            False,
            True,
            [host.control.replica],
        )
        assert seen.words["notes"].state == "disabled"
    finally:
        await host.shutdown()


async def test_a_process_stopping_is_no_word_on_its_plugins_for_the_others(make_host: MakeHost) -> None:
    a = await make_host("a", Notes())
    b = await make_host("b", Notes())
    await a.shutdown()  # its on_disable ran, here only
    seen = await b.control.deployment()
    assert "notes" not in seen.words and state(b) is PluginState.ENABLED
    assert [r.replica for r in seen.replicas] == ["b"]  # a withdrew its report when it left


# -- circuit breakers: one for the deployment when a quorum of processes sees the plugin fail --------------------
class FailsInWorldOne:
    """Fails in world 1 while ``failing`` (each process's own instance decides for itself)."""

    def __init__(self, failing: bool) -> None:
        self.manifest = manifest("flaky", "event:subscribe")
        self.failing = failing

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> str:
        if self.failing and event.world_id == 1:
            raise RuntimeError("world one breaks me here")
        return "flaky"


async def fail_twice(host: PluginHost) -> None:
    """Two failures in world 1: the threshold the hosts below open their breaker at."""
    for _ in range(2):
        await host.hook.on_session_created(event=created(1), world=WorldScope(1))


def open_in(host: PluginHost) -> set[int]:
    return {v.world_id for v in host.breakers.states() if v.plugin_id == "flaky" and v.state is BreakerState.OPEN}


async def said_to_all(speaker: PluginHost, *others: PluginHost) -> None:
    """A barrier: a word from ``speaker``, waited for in ``others``. The channel is ordered per process, so each
    of them has taken every message ``speaker`` sent before it (its breaker votes included)."""
    await speaker.disable("notes")
    assert await until(lambda: all(state(o) is PluginState.DISABLED for o in others))
    await speaker.enable("notes")
    assert await until(lambda: all(state(o) is PluginState.ENABLED for o in others))


@pytest.fixture
async def three(make_host: MakeHost) -> tuple[list[FailsInWorldOne], list[PluginHost]]:
    plugins = [FailsInWorldOne(failing=False) for _ in range(3)]
    hosts = [
        await make_host(name, plugin, Notes(), breaker_threshold=2, breaker_cooldown_s=HOUR)
        for name, plugin in zip("abc", plugins, strict=True)
    ]
    return plugins, hosts


async def test_a_plugin_failing_in_a_quorum_of_processes_is_taken_out_of_that_world_in_all(
    three: tuple[list[FailsInWorldOne], list[PluginHost]],
) -> None:
    plugins, (a, b, c) = three
    plugins[0].failing = plugins[1].failing = True
    await fail_twice(a)
    await fail_twice(b)  # two of three processes: the quorum
    assert await until(lambda: open_in(c) == {1})  # c never saw it fail, and takes it out of world 1 too
    assert c.health.of("flaky").failures["error"] == 0
    assert open_in(a) == open_in(b) == {1}  # and nowhere else: world 2 keeps it
    wanted = {"a": {"flaky": 2}, "b": {"flaky": 2}, "c": {}}  # each process's own window, in its report

    async def reported() -> dict[str, dict[str, int]]:
        views = (await c.control.deployment()).replicas
        return {r.replica: {pid: f.window_failures for pid, f in r.failing.items()} for r in views}

    async def as_wanted() -> bool:
        return await reported() == wanted

    assert await until(as_wanted), await reported()  # b reports right after its vote: c may have counted it first
    assert await c.hook.on_session_created(event=created(2), world=WorldScope(2)) == ["flaky"]


async def test_one_process_alone_seeing_failures_opens_its_own_breaker_only(
    three: tuple[list[FailsInWorldOne], list[PluginHost]],
) -> None:
    plugins, (a, b, c) = three
    plugins[0].failing = True
    await fail_twice(a)
    assert open_in(a) == {1}
    await said_to_all(a, b, c)  # b and c have taken a's vote by now
    assert open_in(b) == open_in(c) == set()


async def test_enabling_the_plugin_closes_the_shared_breaker_everywhere_and_forgets_the_votes(
    three: tuple[list[FailsInWorldOne], list[PluginHost]],
) -> None:
    plugins, (a, b, c) = three
    plugins[0].failing = plugins[1].failing = True
    await fail_twice(a)
    await fail_twice(b)
    assert await until(lambda: open_in(c) == {1})
    await c.enable("flaky")  # the operator's word: every breaker of it closes, and the votes are forgotten
    assert await until(lambda: open_in(a) == open_in(b) == open_in(c) == set())
    plugins[1].failing = False
    await fail_twice(a)  # a alone again: its old vote and b's are gone, so nothing opens for the others
    await said_to_all(a, b, c)
    assert (open_in(a), open_in(b), open_in(c)) == ({1}, set(), set())


async def test_a_process_started_while_redis_is_down_serves_and_joins_when_redis_comes(
    make_host: MakeHost, own_redis: OwnRedis
) -> None:
    own_redis.stop()  # a port that refuses connections now
    early = await make_host("early", Notes(), url=own_redis.url)
    assert state(early) is PluginState.ENABLED and getattr(early.control, "connected", True) is False
    own_redis.start_again()
    other = await make_host("other", Notes(), url=own_redis.url)
    await other.disable("notes")
    assert await until(lambda: state(early) is PluginState.DISABLED)  # it joined once Redis was there


# -- the health window: every process's failures, read by any ------------------------------------------------------
async def test_a_failure_in_one_process_is_in_the_deployments_health_window_read_from_another(
    make_host: MakeHost,
) -> None:
    failing, quiet = FailsInWorldOne(failing=True), FailsInWorldOne(failing=False)
    a = await make_host("a", failing)
    b = await make_host("b", quiet)
    before = time.time()
    await a.hook.on_session_created(event=created(1), world=WorldScope(1))
    await b.hook.on_session_created(event=created(1), world=WorldScope(1))  # fine in b

    async def shared_in_b() -> bool:
        found = await b.control.failures(["flaky"], since=before)
        return found is not None and len(found["flaky"]) == 1

    assert await until(shared_in_b), "a's failure never reached the deployment's window"
    found = await b.control.failures(["flaky", "notes"], since=before)
    assert found is not None
    [failure] = found["flaky"]
    assert (failure.replica, failure.where, failure.outcome, failure.exc_type, failure.world_id) == (
        "a",
        "on_session_created",
        "error",
        "RuntimeError",
        1,
    )
    assert failure.message == "world one breaks me here" and failure.at >= before
    assert found["notes"] == []
    assert b.health.view("flaky").window_failures == 0  # b's own window is still only b's
    later = await b.control.failures(["flaky"], since=time.time() + 1)  # outside the window asked for
    assert later == {"flaky": []}


async def test_failures_recorded_while_redis_is_gone_are_shared_when_it_is_back(
    make_host: MakeHost, own_redis: OwnRedis
) -> None:
    a = await make_host("a", FailsInWorldOne(failing=True), url=own_redis.url)
    b = await make_host("b", FailsInWorldOne(failing=False), url=own_redis.url)
    before = time.time()
    own_redis.stop()
    for _ in range(3):
        await a.hook.on_session_created(event=created(1), world=WorldScope(1))  # never waits on Redis
    assert await b.control.failures(["flaky"], since=before) is None  # b cannot read the window now
    own_redis.start_again()

    async def all_three() -> bool:
        found = await b.control.failures(["flaky"], since=before)
        return found is not None and [f.replica for f in found["flaky"]] == ["a", "a", "a"]

    assert await until(all_three), "the failures kept while Redis was away were never shared"


async def test_one_process_alone_has_no_deployment_window() -> None:
    host = create_host(Settings(), plugins=[FailsInWorldOne(failing=True)], entry_points=[])
    await host.load()
    try:
        await host.hook.on_session_created(event=created(1), world=WorldScope(1))
        assert await host.control.failures(["flaky"], since=0.0) is None
        assert host.health.view("flaky").window_failures == 1
    finally:
        await host.shutdown()

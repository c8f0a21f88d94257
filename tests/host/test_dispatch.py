"""Dispatch: each hookimpl isolated, fallbacks per hook kind, async order and deadline, the world filter."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from pixsim_hooks import NpcSnapshot, SessionSnapshot, hookimpl
from pixsim_hooks.host import Delivery, Outcome, PluginState, WorldScope
from pixsim_hooks.plugin import ExtensionKind
from tests.conftest import MakeHost
from tests.host.plugins import Recorder, Second, manifest
from tests.host.test_host import created

NPC = NpcSnapshot(id=3, world_id=1, name="Alex")
SESSION = SessionSnapshot(id=7, world_id=1, world_time=0.0, version=1)


class Raiser:
    manifest = manifest("raiser", "event:subscribe", "behavior:suggest_activities", "routes:register")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        raise RuntimeError("event handler broke")

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        raise KeyError("no such thing")

    @hookimpl
    def provide_router(self, ctx: Any) -> Any:
        raise RuntimeError("router broke")


class Suggester:
    manifest = manifest("suggester", "behavior:suggest_activities")

    @hookimpl
    async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        await asyncio.sleep(0)
        return ["activity:read"]


async def test_a_failing_event_handler_is_recorded_and_the_others_still_run(make_host: MakeHost) -> None:
    recorder = Recorder()
    host = await make_host(recorder, Raiser())
    assert await host.hook.on_session_created(event=created(), world=WorldScope(1)) == ["recorder"]
    assert len(recorder.seen) == 1
    failure = host.health.of("raiser").recent[-1]
    assert (failure.where, failure.outcome, failure.exc_type, failure.world_id) == (
        "on_session_created",
        Outcome.ERROR,
        "RuntimeError",
        1,
    )
    assert host.plugin("raiser").state is PluginState.ENABLED  # an event failure does not quarantine


async def test_a_failing_suggester_contributes_nothing(make_host: MakeHost) -> None:
    host = await make_host(Raiser(), Suggester())
    assert await host.hook.suggest_activities(world_id=1, npc=NPC, session=SESSION) == [["activity:read"]]
    assert host.health.of("raiser").failures[Outcome.ERROR] == 1


def test_a_failing_router_provider_is_skipped_in_a_sync_call(make_host: MakeHost) -> None:
    class Router:
        manifest = manifest("router", "routes:register")

        @hookimpl
        def provide_router(self, ctx: Any) -> str:
            return "a router"

    host = asyncio.run(make_host(Raiser(), Router()))
    assert host.hook.provide_router.call_sync() == ["a router"]
    assert host.health.of("raiser").recent[-1].where == "provide_router"


def test_an_async_impl_in_a_sync_call_is_a_failure_of_its_plugin_not_a_truthy_coroutine(
    make_host: MakeHost,
) -> None:
    host = asyncio.run(make_host(Suggester()))
    assert host.hook.suggest_activities.call_sync(world_id=1, npc=NPC, session=SESSION) == []
    assert "cannot run in a synchronous hook call" in host.health.of("suggester").recent[-1].message


async def test_async_impls_are_awaited_in_order_not_gathered(make_host: MakeHost) -> None:
    trace: list[str] = []

    def make(pid: str, delay: float) -> object:
        async def suggest_activities(self: Any, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            trace.append(f"{pid} start")
            await asyncio.sleep(delay)
            trace.append(f"{pid} end")
            return [pid]

        cls = type(pid, (), {"manifest": manifest(pid, "behavior:suggest_activities")})
        cls.suggest_activities = hookimpl(suggest_activities)  # type: ignore[attr-defined]
        return cls()

    host = await make_host(make("slow", 0.02), make("fast", 0.0))
    assert await host.hook.suggest_activities(world_id=1, npc=NPC, session=SESSION) == [["fast"], ["slow"]]
    assert trace == ["fast start", "fast end", "slow start", "slow end"]


async def test_one_deadline_covers_the_whole_hook_call(make_host: MakeHost) -> None:
    class Sleeper:
        manifest = manifest("sleeper", "behavior:suggest_activities")

        @hookimpl
        async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            await asyncio.sleep(30)
            return ["never"]

    host = await make_host(Sleeper(), Suggester(), hook_deadline_ms=50)
    start = time.monotonic()
    results = await host.hook.suggest_activities(world_id=1, npc=NPC, session=SESSION)
    # Cut off at the 50 ms deadline, not after the 30 s sleep: a bound far from both, so a loaded machine passes.
    assert time.monotonic() - start < 10.0
    assert results == [["activity:read"]]  # Suggester ran first (registered last) and finished in time
    failure = host.health.of("sleeper").recent[-1]
    assert (failure.outcome, failure.exc_type) == (Outcome.TIMEOUT, "HookDeadlineExceeded")


async def test_two_async_impls_share_one_deadline_so_the_second_is_cut_off(make_host: MakeHost) -> None:
    """Each impl alone takes 1.2 s, well inside the 2 s deadline; together they take 2.4 s. One deadline per hook
    call keeps the first result and cuts the second off at 2 s (a deadline per impl would let both finish, and
    gathering them would finish both at 1.2 s)."""
    cancelled: list[str] = []
    told = asyncio.Event()

    def make(pid: str) -> object:
        async def suggest_activities(self: Any, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            try:
                await asyncio.sleep(1.2)
            except asyncio.CancelledError:
                cancelled.append(pid)
                told.set()
                raise
            return [pid]

        cls = type(pid, (), {"manifest": manifest(pid, "behavior:suggest_activities")})
        cls.suggest_activities = hookimpl(suggest_activities)  # type: ignore[attr-defined]
        return cls()

    host = await make_host(make("second"), make("first"), hook_deadline_ms=2000)  # the last registered runs first
    assert await host.hook.suggest_activities(world_id=1, npc=NPC, session=SESSION) == [["first"]]
    await asyncio.wait_for(told.wait(), 10)  # the abandoned impl is told to stop, after the call has returned
    assert cancelled == ["second"]
    assert not host.health.of("first").recent
    failure = host.health.of("second").recent[-1]
    assert (failure.where, failure.outcome, failure.exc_type) == (
        "suggest_activities",
        Outcome.TIMEOUT,
        "HookDeadlineExceeded",
    )


async def test_a_timeout_raised_by_the_plugin_itself_is_not_mistaken_for_the_deadline(
    make_host: MakeHost,
) -> None:
    class OwnTimeout:
        manifest = manifest("own-timeout", "behavior:suggest_activities")

        @hookimpl
        async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> None:
            raise TimeoutError("my upstream timed out")

    host = await make_host(OwnTimeout())
    assert await host.hook.suggest_activities(world_id=1, npc=NPC, session=SESSION) == []
    assert host.health.of("own-timeout").recent[-1].exc_type == "TimeoutError"


async def test_impls_without_the_hooks_permission_are_ignored_and_recorded(make_host: MakeHost) -> None:
    class NoPermission(Recorder):
        manifest = manifest("no-permission")  # implements an event hook without event:subscribe

    plugin = NoPermission()
    host = await make_host(plugin)
    assert await host.hook.on_session_created(event=created()) == []
    assert plugin.seen == []
    info = host.plugin("no-permission")
    assert info.ignored_hooks == ("on_session_created",)
    assert host.health.of("no-permission").denials == 1


async def test_missing_hook_arguments_are_a_caller_error(make_host: MakeHost) -> None:
    host = await make_host(Recorder())
    with pytest.raises(TypeError, match="needs argument 'event'"):
        await host.hook.on_session_created()


# -- world filter ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({}, ["second", "recorder"]),
        ({"behavior": {}}, ["second", "recorder"]),
        ({"behavior": {"enabledPlugins": ["recorder"]}}, ["recorder"]),
        ({"behavior": {"enabledPlugins": []}}, []),
        ({"behavior": {"enabledPlugins": "recorder"}}, []),
        ({"behavior": {"enabledPlugins": ["recorder", 3]}}, []),
        ({"behavior": {"enabledPlugins": None}}, []),
        ({"behavior": ["enabledPlugins"]}, []),
        ("not a mapping", []),
    ],
    ids=["no-behavior", "no-list", "listed", "empty", "string", "mixed", "null", "behavior-list", "meta-str"],
)
async def test_world_enablement_filters_dispatch_and_fails_closed(
    make_host: MakeHost, meta: Any, expected: list[str]
) -> None:
    host = await make_host(Recorder(), Second())
    world = host.world_scope(1, meta)
    assert await host.hook.on_session_created(event=created(), world=world) == expected


def test_malformed_world_enablement_logs_a_warning() -> None:
    with capture_logs() as logs:
        scope = WorldScope.from_meta(9, {"behavior": {"enabledPlugins": {"weather": True}}})
    assert scope.enabled == frozenset()
    assert logs[0]["log_level"] == "warning"
    assert (logs[0]["world_id"], logs[0]["path"]) == (9, "meta.behavior.enabledPlugins")


def test_core_builtins_are_never_filtered_by_a_world() -> None:
    assert WorldScope(1, frozenset()).allows("core")
    assert not WorldScope(1, frozenset()).allows("weather")


# -- the world filter on every path --------------------------------------------------------------------------------
class Sync:
    """A synchronous suggester that counts its calls."""

    def __init__(self, pid: str) -> None:
        self.manifest = manifest(pid, "behavior:suggest_activities")
        self.calls = 0

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        self.calls += 1
        return [f"activity:{ctx.plugin_id}"]


async def test_a_synchronous_call_leaves_out_plugins_the_world_has_not_enabled_on_every_call(
    make_host: MakeHost,
) -> None:
    """Many calls, so that the sampled (timed) calls and the plain ones are both made."""
    enabled, excluded = Sync("enabled"), Sync("excluded")
    host = await make_host(enabled, excluded)
    world = WorldScope(1, frozenset({"enabled"}))
    for _ in range(100):
        assert host.hook.suggest_activities.call_sync(world=world, world_id=1, npc=NPC, session=SESSION) == [
            ["activity:enabled"]
        ]
    assert (enabled.calls, excluded.calls) == (100, 0)


async def test_an_awaited_call_leaves_out_plugins_the_world_has_not_enabled_on_every_call(make_host: MakeHost) -> None:
    enabled, excluded = Sync("enabled"), Sync("excluded")
    host = await make_host(enabled, excluded)
    world = WorldScope(1, frozenset({"enabled"}))
    for _ in range(100):
        assert await host.hook.suggest_activities(world=world, world_id=1, npc=NPC, session=SESSION) == [
            ["activity:enabled"]
        ]
    assert (enabled.calls, excluded.calls) == (100, 0)


class Flaky:
    """Registers a condition that fails until told otherwise, counting its calls."""

    manifest = manifest("flaky", "behavior:extend_conditions")

    def __init__(self) -> None:
        self.calls = 0
        self.failing = True

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("sometimes", self.sometimes)

    def sometimes(self, ctx: Any, params: Any, view: Any) -> bool:
        self.calls += 1
        if self.failing:
            raise RuntimeError("not today")
        return True


async def test_an_extension_whose_breaker_is_open_in_a_world_is_not_called_there_and_still_is_elsewhere(
    make_host: MakeHost,
) -> None:
    flaky = Flaky()
    host = await make_host(flaky, breaker_threshold=2, breaker_cooldown_s=3600)
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:flaky:sometimes")
    assert entry is not None
    one, two = WorldScope(1), WorldScope(2)
    for _ in range(2):  # two failures in world 1 open its breaker there
        assert await host.call_extension(entry, {}, None, fallback="fell back", world=one) == "fell back"
    flaky.failing = False
    assert await host.call_extension(entry, {}, None, fallback="fell back", world=one) == "fell back"
    assert flaky.calls == 2  # the open breaker kept the third call from the plugin
    assert await host.call_extension(entry, {}, None, fallback="fell back", world=two) is True
    assert flaky.calls == 3


async def test_a_half_open_breaker_lets_one_real_call_through_and_its_success_closes_it(make_host: MakeHost) -> None:
    flaky = Flaky()
    host = await make_host(flaky, breaker_threshold=1, breaker_cooldown_s=0.001)
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:flaky:sometimes")
    assert entry is not None
    world = WorldScope(1)
    assert await host.call_extension(entry, {}, None, fallback="fell back", world=world) == "fell back"
    assert host.breakers.any_tripped
    deadline = time.monotonic() + 10  # wait for the state itself (the cooldown is a millisecond), with a bound
    while "flaky" in host.breakers.blocked(1):  # asked as dispatch asks it: the cooldown's end half-opens it
        assert time.monotonic() < deadline, "the breaker never half-opened"
        await asyncio.sleep(0.001)
    assert host.breakers.half_open(1) == {"flaky"}
    flaky.failing = False
    assert await host.call_extension(entry, {}, None, fallback="fell back", world=world) is True
    assert flaky.calls == 2  # the trial call reached the plugin
    assert not host.breakers.any_tripped  # and its success closed the breaker
    assert host.breakers.half_open(1) == frozenset()


async def test_an_extension_is_not_called_for_a_world_that_has_not_enabled_its_plugin(make_host: MakeHost) -> None:
    flaky = Flaky()
    flaky.failing = False
    host = await make_host(flaky)
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:flaky:sometimes")
    assert entry is not None
    elsewhere = WorldScope(1, frozenset({"someone-else"}))
    assert await host.call_extension(entry, {}, None, fallback="not here", world=elsewhere) == "not here"
    assert flaky.calls == 0
    assert await host.call_extension(entry, {}, None, fallback="not here", world=WorldScope(1)) is True
    assert flaky.calls == 1


class Reader:
    """Reads the session its event names, through its capability."""

    manifest = manifest("reader", "event:subscribe", "session:read")

    def __init__(self) -> None:
        self.read: list[object] = []

    @hookimpl
    async def on_session_created(self, ctx: Any, event: Any) -> None:
        self.read.append(await ctx.session.get_session(event.session.id))


async def test_a_storage_failure_under_a_hook_is_the_cores_and_counts_nothing_against_the_plugin(
    make_host: MakeHost, storage: Any
) -> None:
    reader = Reader()
    host = await make_host(reader, storage=storage, breaker_threshold=1)
    world = WorldScope(1)
    await host.hook.on_session_created(event=created(1), world=world)
    assert reader.read == [None]  # the store answered: no such session
    async with storage.sessions._sessionmaker() as session, session.begin():  # the core's database breaks
        await session.execute(text("DROP TABLE game_sessions"))
    with capture_logs() as logs:
        await host.hook.on_session_created(event=created(1), world=world)
    assert reader.read == [None]  # the second read raised inside the plugin: the event's fallback applied
    health = host.health.view("reader")
    assert (health.failures, health.window_failures) == ({}, 0)
    assert not host.breakers.any_tripped  # a threshold of 1 would have opened it for a failure of the plugin's
    events = [entry["event"] for entry in logs]
    assert "the storage failed under a plugin's call" in events
    assert "core error under a plugin's call; fallback applied" in events
    assert "plugin call failed; fallback applied" not in events


# -- deliver: one plugin's impl, as a durable event delivery needs the outcome ---------------------------------------
async def test_deliver_calls_that_plugin_alone_and_says_it_was_delivered(make_host: MakeHost) -> None:
    recorder, other = Recorder(), Second()
    host = await make_host(recorder, other)

    outcome = await host.hook.on_session_created.deliver("recorder", world=WorldScope(1), event=created())

    assert outcome is Delivery.DELIVERED
    assert len(recorder.seen) == 1 and other.seen == []


async def test_deliver_hands_back_the_failure_and_records_it(make_host: MakeHost) -> None:
    host = await make_host(Raiser())

    outcome = await host.hook.on_session_created.deliver("raiser", world=WorldScope(1), event=created())

    assert isinstance(outcome, RuntimeError) and str(outcome) == "event handler broke"
    assert host.health.of("raiser").recent[-1].where == "on_session_created"


async def test_deliver_says_absent_for_a_plugin_that_takes_no_part(make_host: MakeHost) -> None:
    recorder = Recorder()
    host = await make_host(recorder, Raiser())
    await host.disable("raiser")

    assert await host.hook.on_session_created.deliver("raiser", world=WorldScope(1), event=created()) is (
        Delivery.ABSENT
    )
    elsewhere = WorldScope(1, frozenset({"raiser"}))  # a world that does not enable the recorder
    assert await host.hook.on_session_created.deliver("recorder", world=elsewhere, event=created()) is (Delivery.ABSENT)
    assert await host.hook.on_session_created.deliver("nobody", world=WorldScope(1), event=created()) is (
        Delivery.ABSENT
    )
    assert recorder.seen == []


async def test_deliver_says_blocked_while_the_plugins_breaker_is_open_in_that_world(make_host: MakeHost) -> None:
    host = await make_host(Raiser(), breaker_threshold=1)
    first = await host.hook.on_session_created.deliver("raiser", world=WorldScope(1), event=created())
    assert isinstance(first, RuntimeError)  # that failure opened its breaker in world 1

    assert await host.hook.on_session_created.deliver("raiser", world=WorldScope(1), event=created()) is (
        Delivery.BLOCKED
    )
    assert isinstance(
        await host.hook.on_session_created.deliver("raiser", world=WorldScope(2), event=created()), RuntimeError
    )


async def test_implementers_lists_every_registered_plugin_with_the_hook_whatever_its_state(
    make_host: MakeHost,
) -> None:
    host = await make_host(Recorder(), Raiser(), Suggester())
    await host.disable("raiser")

    assert sorted(host.hook.on_session_created.implementers()) == ["raiser", "recorder"]
    assert host.hook.suggest_activities.implementers() != ()
    assert "recorder" not in host.hook.suggest_activities.implementers()

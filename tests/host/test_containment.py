"""The capability boundary at the host, tried by real hostile plugins (red-team 31-33): policy decided before any
plugin code is imported; any BaseException out of plugin code contained, recorded and fallen back from; deadlines
the plugin cannot hold, in-process overruns recorded as timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import sys
import time
from typing import Any

import pytest

from pixsim_hooks import SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import ENTRY_POINT_GROUP, ISOLATED_ENTRY_POINT_GROUP, Outcome, PluginState, WorldScope
from pixsim_hooks.plugin import ExtensionKind
from tests.conftest import MakeHost
from tests.host.evil.record import IMPORTED
from tests.host.plugins import Recorder, manifest

EVENT = SessionCreated(world_id=1, session=SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1))


def entry_point(name: str, module: str, *, group: str = ENTRY_POINT_GROUP, dist: str | None = None) -> Any:
    ep = importlib.metadata.EntryPoint(name=name, value=module, group=group)
    if dist is not None:  # as an installed distribution's entry point would carry it
        ep._for(_Dist(dist))  # type: ignore[attr-defined]
    return ep


class _Dist:
    def __init__(self, name: str) -> None:
        self.metadata = {"Name": name}


def never_imported(module: str) -> bool:
    return module not in sys.modules and module.rsplit(".", 1)[1] not in IMPORTED


@pytest.fixture(autouse=True)
def _forget_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSIM_ADMIN_TOKEN", "s3cret-admin")
    for name in ("denied", "unlisted", "unvouched", "community"):
        sys.modules.pop(f"tests.host.evil.{name}", None)
        IMPORTED.pop(name, None)


# -- 31: policy before code ------------------------------------------------------------------------------------
async def test_a_denied_entry_point_is_refused_without_being_imported(make_host: MakeHost) -> None:
    host = await make_host(entry_points=[entry_point("denied", "tests.host.evil.denied")], plugins_deny=["denied"])
    assert host.plugin("denied").state is PluginState.QUARANTINED
    assert host.plugin("denied").reason == "denied by PIXSIM_PLUGINS_DENY; its code was never imported"
    assert never_imported("tests.host.evil.denied")


async def test_an_entry_point_outside_the_allow_list_is_refused_without_being_imported(make_host: MakeHost) -> None:
    eps = [entry_point("unlisted", "tests.host.evil.unlisted"), entry_point("recorder", "tests.host.plugins:Recorder")]
    host = await make_host(entry_points=eps, plugins_allow=["recorder"])
    assert host.plugin("unlisted").state is PluginState.QUARANTINED
    assert host.plugin("recorder").state is PluginState.ENABLED
    assert never_imported("tests.host.evil.unlisted")


@pytest.mark.needs("bubblewrap")
async def test_an_entry_point_the_operator_has_not_vouched_for_runs_sandboxed_and_is_never_imported(
    make_host: MakeHost,
) -> None:
    """Its first_party claim does not count: PIXSIM_PLUGINS_TRUSTED names only the recorder."""
    eps = [
        entry_point("unvouched", "tests.host.evil.unvouched"),
        entry_point("recorder", "tests.host.plugins:Recorder"),
    ]
    host = await make_host(entry_points=eps, plugins_trusted=["recorder"])
    try:
        assert host.plugin("unvouched").state is PluginState.ENABLED
        assert host.runs_as("unvouched").startswith("process (")
        [answer] = await host.hook.provide_simulation_defaults(world_id=1)
        assert answer["pid"] != __import__("os").getpid()
        assert never_imported("tests.host.evil.unvouched")
        assert host.runs_as("recorder") == "in_process"
    finally:
        await host.shutdown()


@pytest.mark.needs("bubblewrap")
async def test_a_community_plugin_installed_in_process_by_another_distribution_runs_sandboxed(
    make_host: MakeHost,
) -> None:
    """Installed in the in-process group by a distribution that is not pixsim-hooks, with no PIXSIM_PLUGINS_TRUSTED:
    not vouched for, so the host never imports it; its child reads its manifest (trust: community)."""
    ep = entry_point("community", "tests.host.evil.community", dist="evil-plugins")
    host = await make_host(entry_points=[ep])
    try:
        info = host.plugin("community")
        assert (info.state, info.manifest.trust if info.manifest else None) == (PluginState.ENABLED, "community")
        assert host.runs_as("community").startswith("process (")
        assert never_imported("tests.host.evil.community")
    finally:
        await host.shutdown()


async def test_an_isolated_entry_point_that_is_denied_is_not_even_started(make_host: MakeHost) -> None:
    ep = entry_point("denied", "tests.host.evil.denied", group=ISOLATED_ENTRY_POINT_GROUP)
    host = await make_host(entry_points=[ep], plugins_deny=["denied"])
    assert host.plugin("denied").state is PluginState.QUARANTINED
    assert host.isolated("denied") is None  # no process was started for it


@pytest.mark.needs("bubblewrap")
async def test_an_in_process_object_whose_manifest_asks_for_a_process_never_runs_in_the_host(
    make_host: MakeHost,
) -> None:
    host = await make_host(AsksForAProcess)  # a class: the host makes the instance, in the child
    try:
        assert host.runs_as("asks").startswith("process (")
        [answer] = await host.hook.provide_simulation_defaults(world_id=1)
        assert answer["pid"] != __import__("os").getpid() and AsksForAProcess.calls_here == 0
    finally:
        await host.shutdown()


class AsksForAProcess:
    """An in-process object (already imported by whoever passed it) whose manifest asks for a process."""

    manifest = manifest("asks", "behavior:configure_simulation", isolation="process")
    calls_here = 0

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, int]:
        AsksForAProcess.calls_here += 1
        return {"pid": __import__("os").getpid()}


# -- 32: BaseException from plugin code ------------------------------------------------------------------------
async def test_a_plugin_that_exits_at_import_is_quarantined_and_the_host_loads_the_others(make_host: MakeHost) -> None:
    eps = [
        entry_point("exits", "tests.host.evil.exits_at_import"),
        entry_point("class-body", "tests.host.evil.class_body:Plugin"),
        entry_point("recorder", "tests.host.plugins:Recorder"),
    ]
    host = await make_host(entry_points=eps)
    assert host.plugin("exits").reason == (
        "plugin 'exits': import of 'tests.host.evil.exits_at_import' failed: SystemExit: goodbye from a plugin's import"
    )
    assert "KeyboardInterrupt: from a class body" in (host.plugin("class-body").reason or "")
    assert host.plugin("recorder").state is PluginState.ENABLED


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit])
async def test_a_base_exception_in_init_or_a_lifecycle_hook_quarantines_only_that_plugin(
    make_host: MakeHost, error: type[BaseException]
) -> None:
    class InInit:
        manifest = manifest("in-init")

        def __init__(self) -> None:
            raise error("from __init__")

    class OnLoad:
        manifest = manifest("on-load")

        @hookimpl
        def on_load(self, ctx: Any) -> None:
            raise error("from on_load")

    class OnEnable:
        manifest = manifest("on-enable")

        @hookimpl
        async def on_enable(self, ctx: Any) -> None:
            await asyncio.sleep(0)
            raise error("from an async on_enable")

    class ManifestProperty:
        @property
        def manifest(self) -> Any:
            raise error("from a manifest property")

    host = await make_host(InInit, OnLoad(), OnEnable(), ManifestProperty(), Recorder())
    states = {info.id: (info.state, info.reason) for info in host.plugins()}
    assert states["explicit:InInit"] == (
        PluginState.QUARANTINED,
        f"plugin 'explicit:InInit': instantiation failed: {error.__name__}: from __init__",
    )
    assert states["on-load"] == (PluginState.QUARANTINED, f"on_load failed: {error.__name__}: from on_load")
    assert states["on-enable"] == (
        PluginState.QUARANTINED,
        f"on_enable failed: {error.__name__}: from an async on_enable",
    )
    assert states["explicit:ManifestProperty"][0] is PluginState.QUARANTINED
    assert host.plugin("recorder").state is PluginState.ENABLED


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit])
async def test_a_base_exception_in_a_hook_or_a_condition_is_that_plugins_failure_and_the_others_run(
    make_host: MakeHost, error: type[BaseException]
) -> None:
    class Raises:
        manifest = manifest("raises", "event:subscribe", "behavior:extend_conditions")

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any) -> None:
            raise error("sync event handler")

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            ctx.behavior.register_condition_evaluator("sync", self.sync)
            ctx.behavior.register_condition_evaluator("coroutine", self.coroutine)

        def sync(self, ctx: Any, params: Any, view: Any) -> bool:
            raise error("sync condition")

        async def coroutine(self, ctx: Any, params: Any, view: Any) -> bool:
            await asyncio.sleep(0)
            raise error("async condition")  # inside its own task: asyncio would re-raise SystemExit out of the loop

    recorder = Recorder()
    host = await make_host(Raises(), recorder)
    assert await host.hook.on_session_created(event=EVENT, world=WorldScope(1)) == ["recorder"]
    assert host.hook.on_session_created.call_sync(event=EVENT) == ["recorder"]
    for name in ("sync", "coroutine"):
        entry = host.behavior.get(ExtensionKind.CONDITION, f"plugin:raises:{name}")
        assert entry is not None
        assert await host.call_extension(entry, {}, None, fallback=False) is False
    recent = [(r.where, r.exc_type) for r in host.health.of("raises").recent]
    assert recent == [
        ("on_session_created", error.__name__),
        ("on_session_created", error.__name__),
        ("plugin:raises:sync", error.__name__),
        ("plugin:raises:coroutine", error.__name__),
    ]
    assert len(recorder.seen) == 2
    assert host.plugin("raises").state is PluginState.ENABLED


# -- 33: deadlines the plugin cannot hold ------------------------------------------------------------------------
class Stubborn:
    """Swallows the cancellation of its deadline, then answers late."""

    manifest = manifest("stubborn", "behavior:suggest_activities", "behavior:extend_conditions")

    def __init__(self) -> None:
        self.late = asyncio.Event()

    @hookimpl
    async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        return [await self._hold()]

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("holds", self.holds)

    async def holds(self, ctx: Any, params: Any, view: Any) -> bool:
        return (await self._hold()) == "late"

    async def _hold(self) -> str:
        for _ in range(3):  # each cancellation swallowed; it gives up after the third, so the test ends cleanly
            try:
                await asyncio.sleep(2)
            except asyncio.CancelledError:
                continue
        self.late.set()
        return "late"


class Quick:
    manifest = manifest("quick", "behavior:suggest_activities")

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        return ["activity:quick"]


async def test_an_impl_that_swallows_cancellation_is_abandoned_at_the_deadline_and_its_late_answer_dropped(
    make_host: MakeHost,
) -> None:
    stubborn = Stubborn()
    host = await make_host(stubborn, Quick(), hook_deadline_ms=200)  # quick runs first (registered last)
    start = time.monotonic()
    results = await host.hook.suggest_activities(world_id=1, npc=None, session=None)
    assert time.monotonic() - start < 1.9  # at the deadline, long before its own first 2 s sleep could end
    assert results == [["activity:quick"]]
    assert [(r.where, r.outcome) for r in host.health.of("stubborn").recent] == [
        ("suggest_activities", Outcome.TIMEOUT)
    ]
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:stubborn:holds")
    assert entry is not None
    assert await host.call_extension(entry, {}, None, fallback="fell back") == "fell back"
    await asyncio.wait_for(stubborn.late.wait(), 30)  # it did answer, eventually: to nobody
    assert host.health.of("stubborn").recent[-1].outcome is Outcome.TIMEOUT


async def test_a_synchronous_overrun_is_a_timeout_its_result_unused_and_counted_by_the_breaker(
    make_host: MakeHost,
) -> None:
    class Slow:
        manifest = manifest("slow", "behavior:suggest_activities")

        @hookimpl
        def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            time.sleep(0.5)  # synchronous: in-process code cannot be stopped, only not believed
            return ["activity:too_late"]

    host = await make_host(Slow(), hook_deadline_ms=100, breaker_threshold=1, breaker_cooldown_s=3600)
    world = WorldScope(7)
    assert await host.hook.suggest_activities(world=world, world_id=7, npc=None, session=None) == []
    [record] = host.health.of("slow").recent
    assert (record.outcome, record.exc_type, record.world_id) == (Outcome.TIMEOUT, "HookDeadlineExceeded", 7)
    assert [(b.plugin_id, b.world_id, b.state.value) for b in host.breakers.states()] == [("slow", 7, "open")]


async def test_a_plugin_cancelling_the_task_it_runs_in_cancels_only_itself(make_host: MakeHost) -> None:
    class Saboteur:
        manifest = manifest("saboteur", "behavior:suggest_activities")

        @hookimpl
        async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            asyncio.current_task().cancel()  # type: ignore[union-attr]  # the host's request, were it run there
            await asyncio.sleep(0)
            return ["never"]

    host = await make_host(Quick(), Saboteur())
    assert await host.hook.suggest_activities(world_id=1, npc=None, session=None) == [["activity:quick"]]
    assert [r.exc_type for r in host.health.of("saboteur").recent] == ["CancelledError"]


FLAG: contextvars.ContextVar[str] = contextvars.ContextVar("pixsim_test_flag", default="host's")


async def test_a_plugin_setting_a_context_variable_changes_nothing_of_the_host(make_host: MakeHost) -> None:
    class Setter:
        manifest = manifest("setter", "behavior:suggest_activities")

        @hookimpl
        async def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
            FLAG.set("the plugin's")
            await asyncio.sleep(0)
            return [FLAG.get()]

    host = await make_host(Setter())
    assert await host.hook.suggest_activities(world_id=1, npc=None, session=None) == [["the plugin's"]]
    assert FLAG.get() == "host's"


# -- what stays open in-process (docs/security.md): frames ----------------------------------------------------------
async def test_limit_an_in_process_hookimpl_still_finds_the_host_in_its_callers_frames(make_host: MakeHost) -> None:
    """The frame stack is the interpreter's: a hookimpl walking ``f_back`` meets the dispatcher's locals. Only a
    process boundary stops this, which is why community plugins never run in-process."""
    from pixsim_hooks.host import PluginHost

    class Climber:
        manifest = manifest("climber", "event:subscribe")
        found: list[str] = []

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any) -> None:
            frame = sys._getframe().f_back
            while frame is not None:
                if any(isinstance(value, PluginHost) for value in frame.f_locals.values()):
                    self.found.append(frame.f_code.co_name)
                frame = frame.f_back

    host = await make_host(Climber())
    await host.hook.on_session_created(event=EVENT)
    assert Climber.found, "no caller frame held the host"

"""Loading: discovery, ordering, quarantine causes, allow/deny, the trust rule, enable/disable."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from pixsim_hooks import SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import ENTRY_POINT_GROUP, PluginState
from pixsim_hooks.plugin import ExtensionKind, PluginLoadError
from tests.conftest import MakeHost
from tests.host.plugins import NeedsRecorder, Recorder, Second, manifest


def ep(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def created(world_id: int = 1) -> SessionCreated:
    return SessionCreated(world_id, SessionSnapshot(id=7, world_id=world_id, world_time=0.0, version=1))


async def test_entry_point_plugins_are_discovered_and_enabled(make_host: MakeHost) -> None:
    host = await make_host(entry_points=[ep("recorder", "tests.host.plugins:Recorder")])
    info = host.plugin("recorder")
    assert info.state is PluginState.ENABLED
    assert info.source == "recorder"
    assert await host.hook.on_session_created(event=created()) == ["recorder"]


async def test_hooks_run_in_pluggy_order_last_registered_first(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), Second())
    assert await host.hook.on_session_created(event=created()) == ["second", "recorder"]


async def test_dependencies_load_first_whatever_the_discovery_order(make_host: MakeHost) -> None:
    host = await make_host(NeedsRecorder(), Recorder())
    assert host._order.index("recorder") < host._order.index("needs-recorder")
    assert host.plugin("needs-recorder").state is PluginState.ENABLED


# -- each quarantine cause ------------------------------------------------------------------------------------
async def test_an_import_error_quarantines_only_that_plugin(make_host: MakeHost) -> None:
    host = await make_host(
        entry_points=[
            ep("broken", "tests.host.broken_import:Plugin"),
            ep("recorder", "tests.host.plugins:Recorder"),
        ]
    )
    broken = host.plugin("broken")
    assert broken.state is PluginState.QUARANTINED
    assert "ModuleNotFoundError" in (broken.reason or "")
    assert host.plugin("recorder").state is PluginState.ENABLED


async def test_an_invalid_manifest_quarantines_with_plugin_and_field_named(make_host: MakeHost) -> None:
    host = await make_host(entry_points=[ep("bad", "tests.host.plugins:BadManifest")])
    info = host.plugin("bad-manifest")
    assert info.state is PluginState.QUARANTINED
    assert "'bad-manifest'" in (info.reason or "") and "'version'" in (info.reason or "")


async def test_a_missing_dependency_quarantines_the_plugin(make_host: MakeHost) -> None:
    host = await make_host(NeedsRecorder())
    info = host.plugin("needs-recorder")
    assert info.state is PluginState.QUARANTINED
    assert "missing dependencies ['recorder']" in (info.reason or "")


async def test_a_dependency_cycle_quarantines_every_plugin_in_it(make_host: MakeHost) -> None:
    class A:
        manifest = manifest("cycle-a", dependencies=("cycle-b",))

    class B:
        manifest = manifest("cycle-b", dependencies=("cycle-a",))

    host = await make_host(A(), B(), Recorder())
    for pid in ("cycle-a", "cycle-b"):
        assert host.plugin(pid).state is PluginState.QUARANTINED
        assert "dependency cycle" in (host.plugin(pid).reason or "")
    assert host.plugin("recorder").state is PluginState.ENABLED


async def test_dependents_of_a_quarantined_plugin_are_quarantined_too(make_host: MakeHost) -> None:
    class FailingRecorder(Recorder):
        @hookimpl
        def on_load(self, ctx: Any) -> None:
            raise RuntimeError("cannot start")

    host = await make_host(FailingRecorder(), NeedsRecorder())
    assert host.plugin("recorder").state is PluginState.QUARANTINED
    assert "on_load failed: RuntimeError: cannot start" in (host.plugin("recorder").reason or "")
    assert host.plugin("needs-recorder").state is PluginState.QUARANTINED
    assert "dependency 'recorder'" in (host.plugin("needs-recorder").reason or "")


async def test_implementing_an_unknown_hook_quarantines(make_host: MakeHost) -> None:
    class Typo:
        manifest = manifest("typo")

        @hookimpl
        def on_sesion_created(self, ctx: Any, event: Any) -> None: ...

    host = await make_host(Typo(), Recorder())
    assert "unknown hook 'on_sesion_created'" in (host.plugin("typo").reason or "")
    assert host.pm.get_plugin("typo") is None
    assert host.plugin("recorder").state is PluginState.ENABLED


async def test_an_impl_asking_for_arguments_the_spec_lacks_fails_registration(make_host: MakeHost) -> None:
    class WrongArgs:
        manifest = manifest("wrong-args", "event:subscribe")

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any, secret_db: Any) -> None: ...

    host = await make_host(WrongArgs())
    assert host.plugin("wrong-args").state is PluginState.QUARANTINED
    assert "registration failed" in (host.plugin("wrong-args").reason or "")


async def test_hook_wrappers_are_refused(make_host: MakeHost) -> None:
    class Wrapper:
        manifest = manifest("wrapper", "event:subscribe")

        @hookimpl(wrapper=True)
        def on_session_created(self, ctx: Any, event: Any) -> Any:
            return (yield)

    host = await make_host(Wrapper())
    assert host.plugin("wrapper").state is PluginState.QUARANTINED
    assert "wrappers are not allowed" in (host.plugin("wrapper").reason or "")
    assert await host.hook.on_session_created(event=created()) == []


@pytest.mark.parametrize("hook", ["on_load", "register_behavior", "on_enable"])
async def test_a_failing_lifecycle_hook_quarantines_with_the_reason(make_host: MakeHost, hook: str) -> None:
    def boom(self: Any, ctx: Any) -> None:
        raise ValueError(f"{hook} exploded")

    plugin_cls = type("Failing", (), {"manifest": manifest("failing"), hook: hookimpl(boom)})
    host = await make_host(plugin_cls(), Recorder())
    info = host.plugin("failing")
    assert info.state is PluginState.QUARANTINED
    assert info.reason == f"{hook} failed: ValueError: {hook} exploded"
    assert host.health.of("failing").recent[-1].where == hook
    assert host.plugin("recorder").state is PluginState.ENABLED


async def test_a_second_plugin_with_the_same_id_is_quarantined(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), entry_points=[ep("dup", "tests.host.plugins:Recorder")])
    states = {i.source: i.state for i in host.plugins() if i.id.startswith("recorder")}
    assert sorted(states.values()) == [PluginState.ENABLED, PluginState.QUARANTINED]


# -- allow / deny / trust -------------------------------------------------------------------------------------
async def test_deny_list_quarantines_and_wins_over_allow(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), Second(), plugins_allow=["recorder", "second"], plugins_deny=["second"])
    assert host.plugin("recorder").state is PluginState.ENABLED
    assert host.plugin("second").state is PluginState.QUARANTINED
    assert host.plugin("second").reason == "denied by PIXSIM_PLUGINS_DENY"
    assert await host.hook.on_session_created(event=created()) == ["recorder"]


async def test_allow_list_keeps_everything_else_out(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), Second(), plugins_allow=["second"])
    assert host.plugin("recorder").reason == "not in PIXSIM_PLUGINS_ALLOW"
    assert await host.hook.on_session_created(event=created()) == ["second"]


async def test_allow_and_deny_lists_are_read_from_the_environment(
    make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIM_PLUGINS_DENY", "recorder, other")
    host = await make_host(Recorder(), Second())
    assert host.plugin("recorder").state is PluginState.QUARANTINED
    assert host.plugin("second").state is PluginState.ENABLED


async def test_community_plugins_are_refused_in_process(make_host: MakeHost) -> None:
    class Community(Recorder):
        manifest = manifest("community", "event:subscribe", trust="community")

    community = Community()
    host = await make_host(community)
    assert host.plugin("community").state is PluginState.QUARANTINED
    assert "never run in-process" in (host.plugin("community").reason or "")
    assert await host.hook.on_session_created(event=created()) == []
    assert community.seen == []


async def test_a_trust_claim_the_operator_has_not_vouched_for_counts_as_community(
    make_host: MakeHost,
) -> None:
    host = await make_host(Recorder(), Second(), plugins_trusted=["second"])
    assert host.plugin("recorder").state is PluginState.QUARANTINED
    assert "never run in-process" in (host.plugin("recorder").reason or "")
    assert host.plugin("second").state is PluginState.ENABLED
    assert await host.hook.on_session_created(event=created()) == ["second"]


async def test_disabled_by_settings_loads_but_stays_out_of_dispatch(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), plugins_disabled=["recorder"])
    assert host.plugin("recorder").state is PluginState.DISABLED
    assert await host.hook.on_session_created(event=created()) == []


# -- runtime enable / disable ---------------------------------------------------------------------------------
async def test_disable_and_enable_at_runtime_call_the_lifecycle_hooks(make_host: MakeHost) -> None:
    calls: list[str] = []

    class Lifecycle(Recorder):
        @hookimpl
        def on_enable(self, ctx: Any) -> None:
            calls.append("enable")

        @hookimpl
        async def on_disable(self, ctx: Any) -> None:
            calls.append("disable")

    host = await make_host(Lifecycle())
    assert (await host.disable("recorder")).state is PluginState.DISABLED
    assert await host.hook.on_session_created(event=created()) == []
    assert (await host.enable("recorder")).state is PluginState.ENABLED
    assert await host.hook.on_session_created(event=created()) == ["recorder"]
    assert calls == ["enable", "disable", "enable"]


async def test_a_policy_refused_plugin_cannot_be_enabled(make_host: MakeHost) -> None:
    host = await make_host(Recorder(), plugins_deny=["recorder"])
    with pytest.raises(PluginLoadError, match="denied by PIXSIM_PLUGINS_DENY"):
        await host.enable("recorder")


async def test_a_quarantined_plugin_is_reloaded_from_scratch_when_enabled(make_host: MakeHost) -> None:
    class Flaky(Recorder):
        fail = True

        @hookimpl
        def on_enable(self, ctx: Any) -> None:
            if Flaky.fail:
                raise RuntimeError("not yet")

    host = await make_host(Flaky())
    assert host.plugin("recorder").state is PluginState.QUARANTINED
    Flaky.fail = False
    assert (await host.enable("recorder")).state is PluginState.ENABLED
    assert await host.hook.on_session_created(event=created()) == ["recorder"]


class Registers:
    """Registers one extension of each kind, then fails when it is enabled."""

    manifest = manifest("registers", "behavior:extend_conditions", "behavior:extend_effects", "behavior:extend_scoring")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("ready", lambda ctx, params, view: True)
        ctx.behavior.register_effect_handler("mark", lambda ctx, params, view, writer: None)
        ctx.behavior.register_scoring_factor("boost", lambda ctx, activity, view: 2.0)

    @hookimpl
    def on_enable(self, ctx: Any) -> None:
        raise RuntimeError("cannot start")


async def test_a_quarantined_plugin_leaves_none_of_its_registrations_behind(make_host: MakeHost) -> None:
    host = await make_host(Registers(), Recorder())
    assert host.plugin("registers").state is PluginState.QUARANTINED
    assert [e.id for e in host.behavior.entries() if e.plugin_id == "registers"] == []
    for kind, extension_id in (
        (ExtensionKind.CONDITION, "plugin:registers:ready"),
        (ExtensionKind.EFFECT, "effect:plugin:registers:mark"),
        (ExtensionKind.SCORING, "plugin:registers:boost"),
    ):
        assert host.behavior.get(kind, extension_id) is None


class Twice:
    """Registers the same condition name twice: the second registration must not replace the first."""

    manifest = manifest("twice", "behavior:extend_conditions")
    second_error: str | None = None

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("ready", self.first)
        try:
            ctx.behavior.register_condition_evaluator("ready", self.second)
        except ValueError as exc:
            Twice.second_error = str(exc)

    def first(self, ctx: Any, params: Any, view: Any) -> str:
        return "first"

    def second(self, ctx: Any, params: Any, view: Any) -> str:
        return "second"


class Homonym:
    manifest = manifest("homonym", "behavior:extend_conditions", "behavior:extend_scoring")
    second_error: str | None = None

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("mood", lambda ctx, params, view: True)
        try:
            ctx.behavior.register_scoring_factor("mood", lambda ctx, activity, view: 2.0)
        except ValueError as exc:
            Homonym.second_error = str(exc)


async def test_a_condition_and_a_scoring_factor_cannot_share_one_id(make_host: MakeHost) -> None:
    """Both are ``plugin:<id>:<name>``, and a call (out of process, over the protocol) names only the id: one id
    must name one extension."""
    host = await make_host(Homonym())
    assert host.behavior.get(ExtensionKind.CONDITION, "plugin:homonym:mood") is not None
    assert host.behavior.get(ExtensionKind.SCORING, "plugin:homonym:mood") is None
    expected = "'plugin:homonym:mood' already names a condition; give the scoring factor another name"
    assert Homonym.second_error == expected


async def test_an_extension_id_is_registered_once_and_a_second_registration_is_refused(make_host: MakeHost) -> None:
    host = await make_host(Twice())
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:twice:ready")
    assert entry is not None
    assert await host.call_extension(entry, {}, None, fallback=None) == "first"
    assert Twice.second_error == "condition 'plugin:twice:ready' is already registered"

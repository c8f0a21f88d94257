"""Metrics through the OTel metrics API, the sliding health window, and logs that carry the plugin id."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from structlog.testing import capture_logs

from pixsim_hooks import PermissionDenied, hookimpl
from pixsim_hooks.host import HealthBook, Outcome, Settings, create_host
from pixsim_hooks.plugin import ExtensionKind
from pixsim_hooks.telemetry import Telemetry
from tests.host.plugins import Recorder, manifest
from tests.host.test_dispatch import Raiser
from tests.host.test_host import created, ep

SAMPLE_EVERY = 32  # with tracing off, one hook call in 32 is timed (written out: not read from the code)


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


async def metered_host(reader: InMemoryMetricReader, *plugins: Any) -> Any:
    host = create_host(Settings(), plugins=plugins, entry_points=[], meter_provider=MeterProvider([reader]))
    await host.load()
    return host


async def test_calls_errors_and_durations_are_exported_per_plugin_and_hook(reader: InMemoryMetricReader) -> None:
    host = await metered_host(reader, Recorder(), Raiser())
    for _ in range(SAMPLE_EVERY):
        await host.hook.on_session_created(event=created())
    found = points(reader)
    calls = {
        (p.attributes["pixsim.plugin.id"], p.attributes["pixsim.hook.name"]): p.value
        for p in found["pixsim.hookimpl.calls"]
    }
    assert calls[("recorder", "on_session_created")] == SAMPLE_EVERY
    failures = {
        p.attributes["pixsim.plugin.id"]: (p.attributes["pixsim.outcome"], p.value)
        for p in found["pixsim.plugin.failures"]
    }
    assert failures["raiser"] == ("error", SAMPLE_EVERY)
    durations = {p.attributes["pixsim.plugin.id"]: p.count for p in found["pixsim.hookimpl.duration"]}
    assert durations == {"recorder": 1, "raiser": 1}  # one call in SAMPLE_EVERY is timed


class Judge:
    """Registers a condition that holds for ``params["ok"]`` and raises without it."""

    manifest = manifest("judge", "behavior:extend_conditions")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("ok", lambda ctx, params, view: bool(params["ok"]))


async def test_condition_evaluations_and_their_failures_are_exported_per_plugin(reader: InMemoryMetricReader) -> None:
    host = await metered_host(reader, Judge())
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:judge:ok")
    assert entry is not None
    for params in ({"ok": True}, {"ok": False}, {}):
        await host.call_extension(entry, params, None, fallback=False)
    found = points(reader)
    calls = {
        (p.attributes["pixsim.plugin.id"], p.attributes["pixsim.hook.name"]): p.value
        for p in found["pixsim.hookimpl.calls"]
    }
    assert calls[("judge", "condition")] == 2  # evaluated twice; the third raised (KeyError)
    [failure] = found["pixsim.plugin.failures"]
    assert (failure.attributes["pixsim.plugin.id"], failure.attributes["pixsim.outcome"], failure.value) == (
        "judge",
        "error",
        1,
    )


async def test_denials_are_counted_per_plugin(reader: InMemoryMetricReader) -> None:
    class Peeker:
        manifest = manifest("peeker")
        ctx: Any = None

        @hookimpl
        def on_load(self, ctx: Any) -> None:
            Peeker.ctx = ctx

    await metered_host(reader, Peeker())
    with pytest.raises(PermissionDenied):
        _ = Peeker.ctx.world.get_world
    (point,) = points(reader)["pixsim.plugin.denials"]
    assert point.attributes["pixsim.plugin.id"] == "peeker" and point.value == 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_health_window_forgets_old_failures_and_the_plugin_is_healthy_again() -> None:
    clock, calls = Clock(), {"weather": 0}
    book = HealthBook(Telemetry(tracing=False), window_s=60, calls_of=calls.__getitem__, clock=clock)
    calls["weather"] = 8
    book.record_failure("weather", "on_session_created", Outcome.ERROR, RuntimeError("x"), 1)
    clock.now = 10
    calls["weather"] = 11
    view = book.view("weather")
    assert (view.healthy, view.window_failures, view.failures) == (False, 1, {"error": 1})
    assert view.window_calls == 4 and view.error_rate == 0.25
    clock.now = 71
    view = book.view("weather")
    assert (view.healthy, view.window_failures, view.failures) == (True, 0, {"error": 1})  # lifetime total kept
    assert view.last_success is not None


async def test_every_log_line_about_a_plugin_carries_its_id() -> None:
    class Chatty:
        manifest = manifest("chatty", "log:emit", "event:subscribe")

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any) -> None:
            ctx.log.info("hello from the plugin", plugin_id="someone-else", world_id=event.world_id)
            raise RuntimeError("and then a failure")

    host = create_host(Settings(), plugins=[Chatty()], entry_points=[])
    with capture_logs() as logs:
        await host.load()
        await host.hook.on_session_created(event=created(5))
    plugin_lines = [e for e in logs if e["event"] in ("hello from the plugin", "plugin call failed; fallback applied")]
    assert len(plugin_lines) == 2
    assert all(e["plugin_id"] == "chatty" for e in plugin_lines)
    assert plugin_lines[0]["field_plugin_id"] == "someone-else"  # a plugin cannot pass itself off as another


# -- a plugin's failure as its author reads it in the log ---------------------------------------------------------
class Tripwire:
    manifest = manifest("tripwire", "event:subscribe")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        self._deeper(event)

    def _deeper(self, event: Any) -> None:
        raise LookupError(f"no such ledger for world {event.world_id}")


async def test_a_failing_hook_is_logged_at_error_with_the_plugins_own_frames_and_the_host_summarised() -> None:
    host = create_host(Settings(), plugins=[Tripwire()], entry_points=[])
    with capture_logs() as logs:
        await host.load()
        await host.hook.on_session_created(event=created(5))
    (line,) = [e for e in logs if e["event"] == "plugin call failed; fallback applied"]
    assert line["log_level"] == "error"
    trace = line["traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert f'File "{__file__}"' in trace  # the plugin's file, with its lines and code
    assert "in on_session_created" in trace and "in _deeper" in trace
    assert 'raise LookupError(f"no such ledger for world {event.world_id}")' in trace
    assert trace.endswith("LookupError: no such ledger for world 5")
    assert "pixsim_hooks" not in trace and "pluggy" not in trace  # the host's frames are one summary line
    assert "host frame" in trace


async def test_an_import_failure_is_logged_with_the_plugin_modules_file_and_line() -> None:
    host = create_host(Settings(), entry_points=[ep("broken", "tests.host.broken_import:Plugin")])
    with capture_logs() as logs:
        await host.load()
    (line,) = [e for e in logs if e["event"] == "plugin quarantined"]
    assert "broken_import.py" in line["traceback"]
    assert "import pixsim_hooks_no_such_module" in line["traceback"]
    assert "ModuleNotFoundError: No module named 'pixsim_hooks_no_such_module'" in line["traceback"]

"""Tracing: a span per hook call with the pixsim attributes and per-impl events, captured by the OTel SDK."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pixsim_hooks import hookimpl
from pixsim_hooks.host import Settings, WorldScope, create_host
from tests.host.plugins import Recorder, Second, manifest
from tests.host.test_dispatch import Raiser
from tests.host.test_host import created


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def traced_host(exporter: InMemorySpanExporter, *plugins: Any, tracing: bool = True) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = create_host(Settings(tracing=tracing), plugins=plugins, entry_points=[], tracer_provider=provider)
    await host.load()
    return host


async def test_each_hook_call_is_one_span_with_hook_and_world_attributes(
    exporter: InMemorySpanExporter,
) -> None:
    host = await traced_host(exporter, Recorder(), Second())
    await host.hook.on_session_created(event=created(4), world=WorldScope(4))
    (span,) = exporter.get_finished_spans()
    assert span.name == "pixsim.hook.on_session_created"
    assert span.attributes["pixsim.hook.name"] == "on_session_created"
    assert span.attributes["pixsim.world.id"] == 4
    assert span.attributes["pixsim.plugin.ids"] == "second,recorder"
    durations = [int(ns) for ns in span.attributes["pixsim.hookimpl.durations_ns"].split(",")]
    assert len(durations) == 2 and all(ns > 0 for ns in durations)
    assert span.events == ()  # nothing failed: no per-impl events, they cost ~5 us each


async def test_a_single_plugin_call_carries_its_plugin_id(exporter: InMemorySpanExporter) -> None:
    host = await traced_host(exporter, Recorder(), Second())
    await host.hook.on_session_created(event=created(4), world=WorldScope(4, frozenset({"recorder"})))
    (span,) = exporter.get_finished_spans()
    assert span.attributes["pixsim.plugin.id"] == "recorder"


async def test_a_span_the_sampler_drops_still_dispatches(exporter: InMemorySpanExporter) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = create_host(Settings(tracing=True), plugins=[Recorder()], entry_points=[], tracer_provider=provider)
    await host.load()
    assert await host.hook.on_session_created(event=created()) == ["recorder"]
    assert exporter.get_finished_spans() == ()


async def test_a_failing_impl_is_recorded_on_the_span_with_its_plugin(exporter: InMemorySpanExporter) -> None:
    host = await traced_host(exporter, Recorder(), Raiser())
    assert await host.hook.on_session_created(event=created()) == ["recorder"]
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    exception = next(e for e in span.events if e.name == "exception")
    assert exception.attributes["pixsim.plugin.id"] == "raiser"
    assert exception.attributes["exception.type"] == "RuntimeError"
    assert exception.attributes["pixsim.outcome"] == "error"
    assert span.attributes["pixsim.plugin.ids"] == "raiser,recorder"


async def test_sync_hook_calls_are_traced_too(exporter: InMemorySpanExporter) -> None:
    host = await traced_host(exporter, Raiser())
    assert host.hook.provide_router.call_sync() == []
    (span,) = exporter.get_finished_spans()
    assert span.name == "pixsim.hook.provide_router"


async def test_with_tracing_off_no_span_is_made(exporter: InMemorySpanExporter) -> None:
    host = await traced_host(exporter, Recorder(), tracing=False)
    assert host.telemetry.tracer is None
    await host.hook.on_session_created(event=created())
    assert exporter.get_finished_spans() == ()


# -- denied and timeout: the span's exception event and the failure metric name the plugin and the outcome ----------
class Trespasser:
    """May only subscribe to events, then reaches for the world capability."""

    manifest = manifest("trespasser", "event:subscribe")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        _ = ctx.world.get_world  # world:read is not granted: PermissionDenied


class Sleeper:
    """An async handler far slower (30 s) than the hook call's deadline."""

    manifest = manifest("sleeper", "event:subscribe")

    @hookimpl
    async def on_session_created(self, ctx: Any, event: Any) -> None:
        await asyncio.sleep(30)


class UpstreamTimeout:
    """Its own upstream timed out: a TimeoutError of the plugin's, well inside the host's deadline."""

    manifest = manifest("upstream-timeout", "event:subscribe")

    @hookimpl
    async def on_session_created(self, ctx: Any, event: Any) -> None:
        raise TimeoutError("upstream did not answer")


async def observed_host(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader, *plugins: Any, **settings: Any
) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = create_host(
        Settings(tracing=True, **settings),
        plugins=plugins,
        entry_points=[],
        tracer_provider=provider,
        meter_provider=MeterProvider([reader]),
    )
    await host.load()
    return host


def counted(reader: InMemoryMetricReader, name: str) -> dict[tuple[Any, ...], int]:
    """``{(attribute values...): count}`` of one counter, attributes in sorted key order."""
    data = reader.get_metrics_data()
    found: dict[tuple[Any, ...], int] = {}
    for resource in data.resource_metrics if data else ():
        for metric in (m for scope in resource.scope_metrics for m in scope.metrics if m.name == name):
            for point in metric.data.data_points:
                found[tuple(v for _, v in sorted(point.attributes.items()))] = point.value
    return found


def failure_event(span: ReadableSpan) -> Any:
    (event,) = [e for e in span.events if e.name == "exception"]
    return event


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


async def test_a_denied_impl_marks_the_span_and_counts_a_denied_failure(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader
) -> None:
    host = await observed_host(exporter, reader, Trespasser(), Recorder())
    assert await host.hook.on_session_created(event=created()) == ["recorder"]
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "trespasser: denied"
    event = failure_event(span)
    assert event.attributes["pixsim.plugin.id"] == "trespasser"
    assert event.attributes["pixsim.outcome"] == "denied"
    assert event.attributes["exception.type"].endswith(".PermissionDenied")  # qualified by its module
    # attributes sorted by key: hook, outcome, plugin
    assert counted(reader, "pixsim.plugin.failures") == {("on_session_created", "denied", "trespasser"): 1}
    assert counted(reader, "pixsim.plugin.denials") == {("world.get_world", "trespasser"): 1}


async def test_an_impl_past_the_deadline_marks_the_span_and_counts_a_timeout(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader
) -> None:
    host = await observed_host(exporter, reader, Sleeper(), Recorder(), hook_deadline_ms=50)
    start = time.monotonic()
    assert await host.hook.on_session_created(event=created()) == ["recorder"]
    assert time.monotonic() - start < 10  # the sleeper was cut off at 50 ms, not waited for (30 s); slack for load
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "sleeper: timeout"
    event = failure_event(span)
    assert event.attributes["pixsim.plugin.id"] == "sleeper"
    assert event.attributes["pixsim.outcome"] == "timeout"
    assert event.attributes["exception.type"].endswith(".HookDeadlineExceeded")
    assert counted(reader, "pixsim.plugin.failures") == {("on_session_created", "timeout", "sleeper"): 1}


async def test_a_timeout_error_of_the_plugin_itself_counts_as_an_error_not_a_timeout(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader
) -> None:
    host = await observed_host(exporter, reader, UpstreamTimeout())
    assert await host.hook.on_session_created(event=created()) == []
    (span,) = exporter.get_finished_spans()
    event = failure_event(span)
    assert (event.attributes["exception.type"], event.attributes["pixsim.outcome"]) == ("TimeoutError", "error")
    assert counted(reader, "pixsim.plugin.failures") == {("on_session_created", "error", "upstream-timeout"): 1}

"""Tracing: a span per hook call with the pixsim attributes and per-impl events, captured by the OTel SDK."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pixsim_hooks import Settings, WorldScope, create_host
from tests.core.plugins import Recorder, Second
from tests.core.test_dispatch import Raiser
from tests.core.test_host import created


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

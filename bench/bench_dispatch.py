"""Host dispatch against bare pluggy, with 1, 10 and 50 plugins; tracing off, on, and sampled at 10%.

Bare pluggy: ``pm.hook.on_session_created(ctx=None, event=e)`` over the same trivial hookimpls. Host: isolation,
context injection, the world filter (a world that enables every plugin) and the breakers included.

- ``dispatch.<n>.tracing_off``: target (10 plugins) at most half of bare pluggy;
- ``dispatch.10.tracing_on``: every call traced; against what the OpenTelemetry SDK alone charges for the span
  (start with two attributes, set two, end), target at most that + 3 us;
- ``dispatch.10.tracing_sampled``: ``PIXSIM_TRACING_SAMPLE=0.1``; target at most bare pluggy + 3 us.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pluggy
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import hookspecs
from bench._harness import Row, per_op_ns, per_op_ns_async, print_rows, ratio_at_most, within
from pixsim_hooks import PluginManifest, SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import Settings, WorldScope, create_host

EVENT = SessionCreated(1, SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1))


class _NoopExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _plugin(i: int) -> object:
    class Plugin:
        manifest = PluginManifest(
            id=f"p{i:02d}", name=f"P{i}", version="1.0.0", trust="first_party", permissions=("event:subscribe",)
        )

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any) -> int:
            return i

    return Plugin()


def _bare(n: int) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs.events)
    for i in range(n):
        pm.register(_plugin(i), name=f"p{i:02d}")
    return pm


def _provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_NoopExporter()))
    return provider


def _host(n: int, *, tracing: bool, sample: float = 1.0) -> Any:
    settings = Settings(tracing=tracing, tracing_sample=sample)
    plugins = [_plugin(i) for i in range(n)]
    host = create_host(settings, plugins=plugins, entry_points=[], tracer_provider=_provider())
    asyncio.run(host.load())
    return host


def _sdk_span_ns() -> float:
    """What the OTel SDK alone charges for one span like the host's (start with 2 attributes, set 2, end)."""
    tracer = _provider().get_tracer("bench")

    def one_span() -> None:
        span = tracer.start_span("pixsim.hook.x", attributes={"a": "x", "b": 1})
        span.set_attributes({"c": "p00", "d": "1234"})
        span.end()

    return per_op_ns(one_span, number=5_000)


def _sync_ns(host: Any, world: WorldScope, number: int) -> float:
    caller = host.hook.on_session_created
    return per_op_ns(lambda: caller.call_sync(world=world, event=EVENT), number=number)


def _await_ns(host: Any, world: WorldScope, number: int) -> float:
    caller = host.hook.on_session_created
    return per_op_ns_async(lambda: caller(world=world, event=EVENT), number=number)


def run() -> list[Row]:
    rows = []
    for n in (1, 10, 50):
        pm, number = _bare(n), (20_000 if n < 50 else 5_000)
        bare = per_op_ns(lambda pm=pm: pm.hook.on_session_created(ctx=None, event=EVENT), number=number)
        world = WorldScope(1, frozenset(f"p{i:02d}" for i in range(n)))
        host = _host(n, tracing=False)
        target = ratio_at_most(0.5) if n == 10 else None
        rows.append(Row(f"dispatch.{n}.tracing_off", _sync_ns(host, world, number), "bare pluggy", bare, target))
        rows.append(Row(f"dispatch.{n}.tracing_off.await", _await_ns(host, world, number), "bare pluggy", bare))
        if n != 10:
            continue
        traced = _sync_ns(_host(n, tracing=True), world, 5_000)
        span = _sdk_span_ns()
        rows.append(Row("dispatch.10.tracing_on", traced, "the OTel SDK's span alone", span, within(3_000)))
        sampled = _sync_ns(_host(n, tracing=True, sample=0.1), world, number)
        rows.append(Row("dispatch.10.tracing_sampled", sampled, "bare pluggy", bare, within(3_000), "10% traced"))
    return rows


if __name__ == "__main__":
    print_rows("hook dispatch", run())

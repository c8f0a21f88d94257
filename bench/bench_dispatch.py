"""Host dispatch vs bare pluggy, with 1, 10 and 50 plugins, tracing off and on.

Bare pluggy: ``pm.hook.on_session_created(ctx=None, event=e)`` over the same trivial hookimpls. Host: isolation,
context injection and the world filter (a world that enables every plugin) included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pluggy
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import hookspecs
from bench._harness import Row, per_op_ns, per_op_ns_async, print_rows
from pixsim_hooks import PluginManifest, SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import Settings, WorldScope, create_host

EVENT = SessionCreated(1, SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1))


class _NoopExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _plugin(i: int) -> object:
    class Plugin:
        manifest = PluginManifest(
            id=f"p{i:02d}",
            name=f"P{i}",
            version="1.0.0",
            trust="first_party",
            permissions=("event:subscribe",),
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


def _host(n: int, *, tracing: bool) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_NoopExporter()))
    host = create_host(
        Settings(tracing=tracing),
        plugins=[_plugin(i) for i in range(n)],
        entry_points=[],
        tracer_provider=provider,
    )
    asyncio.run(host.load())
    return host


def _sdk_span_floor(bare_ns: float) -> Row:
    """What the OTel SDK alone charges for one span (start with 2 attributes, set 2, end), for reading the rows."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_NoopExporter()))
    tracer = provider.get_tracer("bench")

    def one_span() -> None:
        span = tracer.start_span("pixsim.hook.x", attributes={"a": "x", "b": 1})
        span.set_attributes({"c": "p00", "d": "1234"})
        span.end()

    return Row("OTel SDK span alone (no plugin call)", per_op_ns(one_span, number=5_000), "bare pm.hook 10", bare_ns)


def run() -> list[Row]:
    rows = []
    for n in (1, 10, 50):
        pm = _bare(n)
        number = 20_000 if n < 50 else 5_000
        bare = per_op_ns(lambda pm=pm: pm.hook.on_session_created(ctx=None, event=EVENT), number=number)
        world = WorldScope(1, frozenset(f"p{i:02d}" for i in range(n)))
        for tracing in (False, True):
            host = _host(n, tracing=tracing)
            caller = host.hook.on_session_created
            label = "tracing on " if tracing else "tracing off"
            target = "<= bare + 20us" if tracing else ("<= 1.0x" if n == 10 else "")
            sync = per_op_ns(lambda c=caller, w=world: c.call_sync(world=w, event=EVENT), number=number)
            rows.append(Row(f"host call_sync, {n:2d} plugins, {label}", sync, "bare pm.hook", bare, target))
            coro = per_op_ns_async(lambda c=caller, w=world: c(world=w, event=EVENT), number=number)
            rows.append(Row(f"host await,     {n:2d} plugins, {label}", coro, "bare pm.hook", bare, target))
        if n == 10:
            rows.append(_sdk_span_floor(bare))
    return rows


if __name__ == "__main__":
    print_rows("hook dispatch", run())

"""OpenTelemetry from settings, and route plugin requests traced and measured per plugin."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
from fastapi import APIRouter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pixsim_hooks import PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.backend._otel import sdk_providers
from pixsim_hooks.host import Settings


def test_with_exporter_none_the_sdk_is_never_imported() -> None:
    code = (
        "import sys; from pixsim_hooks.host import Settings; from pixsim_hooks.backend import create_app;"
        "create_app(Settings(otel_exporter='none'), entry_points=[]);"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_console_exporter_builds_sdk_providers() -> None:
    tracer_provider, meter_provider = sdk_providers(Settings(otel_exporter="console"))
    assert isinstance(tracer_provider, TracerProvider) and isinstance(meter_provider, MeterProvider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


class Pinger:
    manifest = PluginManifest(
        id="pinger", name="Pinger", version="1.0.0", trust="first_party", permissions=("routes:register",)
    )

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/ping")
        async def ping() -> dict[str, bool]:
            return {"ok": True}

        return router


async def test_plugin_route_requests_get_a_span_and_metrics_tagged_with_the_plugin(database_url: str) -> None:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    app = create_app(
        Settings(database_url=database_url, tracing=True),
        plugins=[Pinger()],
        entry_points=[],
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider([reader]),
    )
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/api/v1/plugins/pinger/ping")).status_code == 200
        assert (await c.get("/api/v1/worlds")).status_code == 200  # core routes make no plugin span
    route_spans = [s for s in spans.get_finished_spans() if s.name == "pixsim.route"]
    assert len(route_spans) == 1
    assert route_spans[0].attributes["pixsim.plugin.id"] == "pinger"
    assert route_spans[0].attributes["http.response.status_code"] == 200
    data = reader.get_metrics_data()
    metrics = {m.name: m for r in data.resource_metrics for sm in r.scope_metrics for m in sm.metrics}
    (requests,) = metrics["pixsim.plugin.route.requests"].data.data_points
    assert requests.value == 1 and requests.attributes["pixsim.plugin.id"] == "pinger"
    assert metrics["pixsim.plugin.route.duration"].data.data_points[0].count == 1

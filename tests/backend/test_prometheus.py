"""``PIXSIM_PROMETHEUS``: the real app serves its plugin metrics at ``/metrics`` for a Prometheus scrape."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pixsim_hooks import ConfigError, PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.backend._otel import sdk_setup
from pixsim_hooks.host import Settings


def subscriber(pid: str) -> PluginManifest:
    return PluginManifest(
        id=pid, name=pid.title(), version="1.0.0", trust="first_party", permissions=("event:subscribe",)
    )


class Steady:
    manifest = subscriber("steady")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        pass


class Flaky:
    """Fails its first call, succeeds after."""

    manifest = subscriber("flaky")

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first call breaks")


@asynccontextmanager
async def running(settings: Settings, *plugins: object) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (real event delivery to the plugins) with its lifespan, behind an in-process client."""
    app = create_app(settings, plugins=plugins, entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def create_sessions(client: httpx.AsyncClient, count: int) -> None:
    """Each created session fires ``on_session_created`` at every plugin."""
    world = (await client.post("/api/v1/worlds", json={"name": "Harbor"})).json()
    for _ in range(count):
        response = await client.post("/api/v1/sessions", json={"world_id": world["id"]})
        assert response.status_code == 201, response.text


def samples(text: str, name: str) -> dict[tuple[str, ...], float]:
    """``{(plugin id, outcome or ''): value}`` of one series in a scrape, parsed as Prometheus parses it."""
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = (sample.labels["pixsim_plugin_id"], sample.labels.get("pixsim_outcome", ""))
                found[key] = sample.value
    return found


async def test_metrics_are_scraped_with_plugin_ids_and_counts(database_url: str) -> None:
    settings = Settings(database_url=database_url, prometheus=True)
    async with running(settings, Steady(), Flaky()) as client:
        await create_sessions(client, 3)
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    calls = samples(response.text, "pixsim_hookimpl_calls_total")
    assert calls == {("steady", ""): 3.0, ("flaky", ""): 2.0}
    failures = samples(response.text, "pixsim_plugin_failures_total")
    assert failures == {("flaky", "error"): 1.0}
    assert 'pixsim_hook_name="on_session_created"' in response.text


async def test_each_app_has_its_own_registry(database_url: str, tmp_path: Any) -> None:
    """Two apps in one process (as in tests, or two servers) register no collector twice and scrape only their own
    series; prometheus_client's global REGISTRY stays untouched."""
    first = Settings(database_url=database_url, prometheus=True)
    second = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'second.sqlite3'}", prometheus=True)
    async with running(first, Steady()) as one, running(second, Steady()) as two:
        await create_sessions(one, 2)
        await create_sessions(two, 1)
        assert samples((await one.get("/metrics")).text, "pixsim_hookimpl_calls_total") == {("steady", ""): 2.0}
        assert samples((await two.get("/metrics")).text, "pixsim_hookimpl_calls_total") == {("steady", ""): 1.0}
    assert b"pixsim_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


async def test_without_prometheus_metrics_is_not_found(database_url: str) -> None:
    async with running(Settings(database_url=database_url), Steady()) as client:
        assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize("module", ["opentelemetry.exporter.prometheus", "prometheus_client"])
def test_a_missing_extra_is_a_config_error_naming_the_pip_command(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(ConfigError) as caught:
        create_app(Settings(prometheus=True), entry_points=[])
    assert "pip install 'pixsim-hooks[prometheus]'" in str(caught.value)
    assert caught.value.path == "prometheus"


def test_prometheus_goes_next_to_a_push_exporter() -> None:
    setup = sdk_setup(Settings(otel_exporter="console", prometheus=True))
    assert setup.tracer_provider is not None and setup.prometheus_registry is not None
    setup.meter_provider.get_meter("probe").create_counter("probe").add(2)
    scraped = prometheus_client.generate_latest(setup.prometheus_registry).decode()
    assert [s.value for f in text_string_to_metric_families(scraped) for s in f.samples if s.name == "probe_total"] == [
        2.0
    ]
    setup.tracer_provider.shutdown()
    setup.meter_provider.shutdown()  # the console reader still gets its final push


def test_prometheus_alone_has_no_tracer_provider() -> None:
    setup = sdk_setup(Settings(prometheus=True))
    assert setup.tracer_provider is None and setup.prometheus_registry is not None  # traces stay on the no-op API
    setup.meter_provider.shutdown()

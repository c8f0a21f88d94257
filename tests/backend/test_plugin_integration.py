"""The backend with plugins: route plugins over HTTP with their context, events to plugins, the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from pixsim_hooks import PluginManifest, SessionCreated, SessionUpdated, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.fastapi import get_plugin_context
from pixsim_hooks.host import Settings
from pixsim_hooks.runtime import ProcessPlugin

TOKEN = "s3cret-admin"


def manifest(pid: str, *permissions: str) -> PluginManifest:
    return PluginManifest(id=pid, name=pid, version="1.0.0", trust="first_party", permissions=permissions)


class Notes:
    """A route plugin keeping notes in its namespaced session flags."""

    manifest = manifest("notes", "routes:register", "session:read", "session:write")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()
        context = get_plugin_context("notes")

        @router.post("/sessions/{session_id}/note")
        async def add_note(session_id: int, body: dict[str, str], ctx: Any = Depends(context)) -> dict[str, Any]:
            snapshot = await ctx.session.set_flag(session_id, "note", body["text"])
            return {"version": snapshot.version, "note": await ctx.session.get_flag(session_id, "note")}

        @router.get("/worlds/{world_id}/hello")
        async def hello(world_id: int, ctx: Any = Depends(context)) -> dict[str, Any]:
            return {"world_id": world_id, "plugin": ctx.plugin_id}

        @router.get("/sessions/{session_id}/relationships-sneak")
        async def sneak(session_id: int, ctx: Any = Depends(context)) -> dict[str, Any]:
            await ctx.session.adjust_relationship(session_id, "npc:1", "affinity", 5)  # granted: session:write
            await ctx.generation.submit("a portrait")  # not granted: generation:submit
            return {}

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("plugin bug")

        return router


class Events:
    """Subscribes to session events and remembers which ctx each arrived with."""

    manifest = manifest("events", "event:subscribe")
    seen: list[tuple[str, str, int]] = []

    @hookimpl
    async def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        self.seen.append((ctx.plugin_id, "created", event.session.id))

    @hookimpl
    def on_session_updated(self, ctx: Any, event: SessionUpdated) -> None:
        self.seen.append((ctx.plugin_id, "updated", event.session.version))


class FailingEvents:
    manifest = manifest("failing-events", "event:subscribe")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        raise RuntimeError("handler broke")


def header_middleware(pid: str, log: list[str]) -> object:
    class Middleware:
        manifest = manifest(pid, "middleware:http")

        @hookimpl
        def provide_middleware(self, ctx: Any) -> Any:
            def factory(app: Any) -> Any:
                async def middleware(scope: Any, receive: Any, send: Any) -> None:
                    log.append(f"{pid} in")
                    await app(scope, receive, send)
                    log.append(f"{pid} out")

                return middleware

            return factory

    return Middleware()


@pytest.fixture
async def plugin_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    Events.seen.clear()
    app = create_app(
        Settings(database_url=database_url, admin_token=TOKEN),
        plugins=[Notes(), Events(), FailingEvents()],
        entry_points=[],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def make_world(client: httpx.AsyncClient, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/worlds", json={"name": "W", "meta": meta or {}})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def make_session(client: httpx.AsyncClient, world_id: int) -> dict[str, Any]:
    response = await client.post("/sessions", json={"world_id": world_id})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


ADMIN = {"Authorization": f"Bearer {TOKEN}"}


# -- route plugins --------------------------------------------------------------------------------------------
async def test_a_route_plugin_writes_through_its_context_into_the_database(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client)
    session = await make_session(plugin_client, world["id"])
    response = await plugin_client.post(f"/plugins/notes/sessions/{session['id']}/note", json={"text": "hi"})
    assert response.status_code == 200, response.text
    assert response.json() == {"version": 2, "note": "hi"}
    stored = (await plugin_client.get(f"/sessions/{session['id']}")).json()
    assert stored["flags"] == {"plugin:notes:note": "hi"}


async def test_a_denied_capability_is_a_403_problem_naming_the_permission(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client)
    session = await make_session(plugin_client, world["id"])
    response = await plugin_client.get(f"/plugins/notes/sessions/{session['id']}/relationships-sneak")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["plugin"], problem["permission"]) == ("notes", "generation:submit")
    assert "lacks permission 'generation:submit'" in problem["detail"]


async def test_a_world_that_has_not_enabled_the_plugin_gets_404_and_nothing_runs(
    plugin_client: httpx.AsyncClient,
) -> None:
    open_world = await make_world(plugin_client)
    closed = await make_world(plugin_client, {"behavior": {"enabledPlugins": ["events"]}})
    assert (await plugin_client.get(f"/plugins/notes/worlds/{open_world['id']}/hello")).json() == {
        "world_id": open_world["id"],
        "plugin": "notes",
    }
    response = await plugin_client.get(f"/plugins/notes/worlds/{closed['id']}/hello")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await plugin_client.get("/plugins/notes/worlds/99999/hello")).status_code == 404


async def test_a_session_write_into_a_world_without_the_plugin_is_refused(plugin_client: httpx.AsyncClient) -> None:
    closed = await make_world(plugin_client, {"behavior": {"enabledPlugins": []}})
    session = await make_session(plugin_client, closed["id"])
    response = await plugin_client.post(f"/plugins/notes/sessions/{session['id']}/note", json={"text": "x"})
    assert response.status_code == 403
    assert (await plugin_client.get(f"/sessions/{session['id']}")).json()["flags"] == {}


async def test_a_plugin_route_exception_is_a_problem_naming_the_plugin_and_core_routes_go_on(
    plugin_client: httpx.AsyncClient,
) -> None:
    response = await plugin_client.get("/plugins/notes/boom")
    assert response.status_code == 502
    assert response.json()["plugin"] == "notes" and "RuntimeError" in response.json()["detail"]
    assert "plugin bug" not in response.text
    assert (await plugin_client.get("/worlds")).status_code == 200
    host = plugin_client.app.state.host  # type: ignore[attr-defined]
    assert host.health.of("notes").recent[-1].where == "route GET /api/v1/plugins/notes/boom"


async def test_plugin_routes_appear_in_the_openapi_schema(plugin_client: httpx.AsyncClient) -> None:
    schema = (await plugin_client.get("http://test/openapi.json")).json()
    assert "/api/v1/plugins/notes/sessions/{session_id}/note" in schema["paths"]


# -- events ---------------------------------------------------------------------------------------------------
async def test_events_reach_subscribers_once_per_commit_with_their_own_context(
    plugin_client: httpx.AsyncClient,
) -> None:
    world = await make_world(plugin_client)
    session = await make_session(plugin_client, world["id"])
    response = await plugin_client.patch(f"/sessions/{session['id']}/flags", json={"door": "open"})
    assert response.status_code == 200, response.text
    assert Events.seen == [("events", "created", session["id"]), ("events", "updated", 2)]
    host = plugin_client.app.state.host  # type: ignore[attr-defined]
    assert host.health.of("failing-events").recent[-1].where == "on_session_created"


async def test_events_skip_plugins_the_world_has_not_enabled(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client, {"behavior": {"enabledPlugins": ["notes"]}})
    await make_session(plugin_client, world["id"])
    assert Events.seen == []


# -- admin ----------------------------------------------------------------------------------------------------
async def test_admin_requires_the_bearer_token(plugin_client: httpx.AsyncClient) -> None:
    assert (await plugin_client.get("/admin/plugins")).status_code == 401
    bad = await plugin_client.get("/admin/plugins", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert (await plugin_client.get("/admin/plugins", headers=ADMIN)).status_code == 200


async def test_admin_api_is_off_without_a_configured_token(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        response = await client.get("/api/v1/admin/plugins", headers=ADMIN)
    assert response.status_code == 404


async def test_admin_lists_plugins_with_state_permissions_and_health(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client)
    await make_session(plugin_client, world["id"])
    plugins = {p["id"]: p for p in (await plugin_client.get("/admin/plugins", headers=ADMIN)).json()}
    assert set(plugins) == {"notes", "events", "failing-events"}
    assert plugins["notes"]["permissions"] == ["routes:register", "session:read", "session:write"]
    assert plugins["failing-events"]["health"]["failures"] == {"error": 1}
    detail = (await plugin_client.get("/admin/plugins/failing-events", headers=ADMIN)).json()
    assert detail["health"]["recent"][0]["exc_type"] == "RuntimeError"
    assert (await plugin_client.get("/admin/plugins/nope", headers=ADMIN)).status_code == 404


async def test_admin_disables_and_enables_a_plugin_globally(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client)
    disabled = await plugin_client.post("/admin/plugins/notes/disable", headers=ADMIN)
    assert disabled.json()["state"] == "disabled"
    assert (await plugin_client.get(f"/plugins/notes/worlds/{world['id']}/hello")).status_code == 404
    enabled = await plugin_client.post("/admin/plugins/notes/enable", headers=ADMIN)
    assert enabled.json()["state"] == "enabled"
    assert (await plugin_client.get(f"/plugins/notes/worlds/{world['id']}/hello")).status_code == 200


async def test_admin_per_world_enablement_writes_the_world_meta(plugin_client: httpx.AsyncClient) -> None:
    world = await make_world(plugin_client, {"weather": "rain"})
    url = f"/admin/worlds/{world['id']}/plugins"
    assert (await plugin_client.get(url, headers=ADMIN)).json()["enabled_plugins"] is None
    off = await plugin_client.put(f"{url}/notes", json={"enabled": False}, headers=ADMIN)
    assert off.json()["enabled_plugins"] == ["events", "failing-events"]
    assert "notes" not in off.json()["effective"]
    meta = (await plugin_client.get(f"/worlds/{world['id']}")).json()["meta"]
    assert meta == {"weather": "rain", "behavior": {"enabledPlugins": ["events", "failing-events"]}}
    assert (await plugin_client.get(f"/plugins/notes/worlds/{world['id']}/hello")).status_code == 404
    on = await plugin_client.put(f"{url}/notes", json={"enabled": True}, headers=ADMIN)
    assert "notes" in on.json()["effective"]


# -- middleware -----------------------------------------------------------------------------------------------
async def test_plugin_middleware_wraps_requests_in_load_order(database_url: str) -> None:
    log: list[str] = []
    app = create_app(
        Settings(database_url=database_url),
        plugins=[header_middleware("outer", log), header_middleware("inner", log)],
        entry_points=[],
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        assert (await client.get("/api/v1/worlds")).status_code == 200
    assert log == ["outer in", "inner in", "inner out", "outer out"]


async def test_a_failing_plugin_middleware_answers_with_a_problem_naming_it(database_url: str) -> None:
    class Broken:
        manifest = manifest("broken-mw", "middleware:http")

        @hookimpl
        def provide_middleware(self, ctx: Any) -> Any:
            def factory(app: Any) -> Any:
                async def middleware(scope: Any, receive: Any, send: Any) -> None:
                    if scope["path"].endswith("/worlds"):
                        raise RuntimeError("middleware bug")
                    await app(scope, receive, send)

                return middleware

            return factory

    app = create_app(Settings(database_url=database_url), plugins=[Broken()], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        response = await client.get("/api/v1/worlds")
        assert (response.status_code, response.json()["plugin"]) == (502, "broken-mw")
        assert (await client.get("/api/v1/generations/1")).status_code == 404  # core errors stay the core's


async def test_admin_shows_health_windows_metrics_and_breakers(database_url: str) -> None:
    Events.seen.clear()
    settings = Settings(database_url=database_url, admin_token=TOKEN, breaker_threshold=2)
    app = create_app(settings, plugins=[Events(), FailingEvents()], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c,
    ):
        world = await make_world(c)
        for _ in range(3):
            await make_session(c, world["id"])
        health = (await c.get("/admin/plugins/health", headers=ADMIN)).json()
        assert health["failing-events"]["healthy"] is False
        assert health["failing-events"]["window_failures"] == 2  # the breaker kept it out of the third commit
        assert health["events"]["healthy"] is True
        breakers = (await c.get("/admin/breakers", headers=ADMIN)).json()
        assert [(b["plugin_id"], b["world_id"], b["state"]) for b in breakers] == [
            ("failing-events", world["id"], "open")
        ]
        metrics = (await c.get("/admin/metrics", headers=ADMIN)).json()
        assert {"plugin_id": "events", "hook": "on_session_created", "calls": 3} in metrics["calls"]
        assert metrics["failures"]["failing-events"] == {"error": 2}
        assert (await c.post("/admin/plugins/failing-events/enable", headers=ADMIN)).json()["breakers"] == []


@pytest.mark.needs("bubblewrap")
async def test_admin_pings_an_out_of_process_plugin_and_refuses_to_ping_an_in_process_one(database_url: str) -> None:
    settings = Settings(database_url=database_url, admin_token=TOKEN)
    app = create_app(settings, plugins=[Notes(), ProcessPlugin("contrib_plugins.romance")], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c,
    ):
        runs = {p["id"]: p["runs"] for p in (await c.get("/admin/plugins", headers=ADMIN)).json()}
        assert runs["notes"] == "in_process" and runs["romance"].startswith("process (")
        page = (await c.get("/admin/plugins/romance", headers=ADMIN)).json()
        assert page["runs"] == runs["romance"]
        pong = (await c.post("/admin/plugins/romance/ping", headers=ADMIN)).json()
        assert pong["alive"] is True and 0 < pong["round_trip_ms"] < 1000
        assert (await c.post("/admin/plugins/notes/ping", headers=ADMIN)).status_code == 409
        assert (await c.post("/admin/plugins/nope/ping", headers=ADMIN)).status_code == 404
        await app.state.host.isolated("romance").stop()  # its process is gone
        gone = (await c.post("/admin/plugins/romance/ping", headers=ADMIN)).json()
        assert gone["alive"] is False and "romance" in gone["error"]

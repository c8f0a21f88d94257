"""Route plugins get a room, not the house (design decision 13; red-team 29, 30, 32).

Each attempt is a small hostile plugin doing the thing for real, driven over HTTP against the backend app: a
route handler reaching for the application it is mounted in, its state, its router, its dependency overrides,
another plugin's context; an admin route reading the operator's credentials; middleware recording what it sees;
plugin code raising what is not an ``Exception``. Each test states the outcome it expects in literals.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException
from structlog.testing import capture_logs

from pixsim_hooks import PermissionDenied, PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.backend._api import plugin_problem_handlers
from pixsim_hooks.backend._api._admin import admin_guard, require_admin
from pixsim_hooks.fastapi import get_plugin_context, host_of, mount_plugin_routers
from pixsim_hooks.host import Settings, create_host
from pixsim_hooks.runtime import ForwardedRoutes, RouteAnswer, RouteShape
from tests.reach import host_paths

TOKEN = "boundary-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
COOKIES = "pixsim_admin=stolen-session; theme=dark"


def manifest(pid: str, *permissions: str) -> PluginManifest:
    return PluginManifest(id=pid, name=pid, version="1.0.0", trust="first_party", permissions=permissions)


def flattened_paths(app: Any) -> list[str]:
    """Every route path an app's router serves, as plugin code would list them (nested routers flattened)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", list)
    return sorted(str(route.path) for route in flatten(list(app.router.routes)))


class Snoop:
    """Reaches for the house from its routes and keeps what it found in ``found`` for the test to look at."""

    manifest = manifest("snoop", "routes:register", "admin:routes", "session:read")

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}
        self.router: APIRouter | None = None

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = self.router = APIRouter()
        found = self.found
        as_other, as_self = get_plugin_context("notes"), get_plugin_context("snoop")

        @router.get("/admin-token")
        async def admin_token(request: Request) -> dict[str, str]:
            try:
                return {"token": request.app.state.settings.admin_token}
            except AttributeError as exc:
                return {"refused": type(exc).__name__}

        @router.get("/house")
        async def house(request: Request) -> dict[str, Any]:
            found.update(app=request.app, state=request.app.state, app_vars=dict(vars(request.app)))
            found.update(scope=dict(request.scope), router=request.scope.get("router"))
            try:
                host_of(request)
                reached = "the host"
            except RuntimeError:
                reached = "nothing"
            return {
                "host": getattr(request.app.state, "host", None),
                "state": sorted(vars(request.app.state)["_state"]),
                "request_state": sorted(vars(request.state)["_state"]),
                "host_of": reached,
                "routes": flattened_paths(request.app),
                "router_is_its_own": request.scope.get("router") is request.app.router,
            }

        @router.get("/walk")
        async def walk(request: Request) -> dict[str, Any]:
            found["request"] = request
            return {"ok": True}

        @router.post("/override-admin")
        async def override(request: Request) -> dict[str, int]:
            request.app.dependency_overrides[require_admin] = lambda: None
            request.app.dependency_overrides[admin_guard] = lambda: None
            return {"overrides": len(request.app.dependency_overrides)}

        @router.get("/impersonate")
        async def impersonate(request: Request) -> dict[str, Any]:
            try:
                other = await get_plugin_context("notes")(request)
            except PermissionDenied as exc:
                return {"denied": exc.plugin_id, "member": exc.member}
            return {"got": other.plugin_id}

        @router.get("/as-notes")
        async def as_notes(ctx: Any = Depends(as_other)) -> dict[str, str]:
            return {"got": ctx.plugin_id}

        @router.get("/own")
        async def own(ctx: Any = Depends(as_self)) -> dict[str, str]:
            return {"got": ctx.plugin_id}

        async def late(world_id: int) -> dict[str, str]:
            return {"late": "ran"}

        @router.post("/add-route")
        async def add_route(request: Request) -> dict[str, int]:
            request.app.router.add_api_route("/worlds/{world_id}/late", late)
            return {"routes": len(request.app.router.routes)}

        @router.get("/worlds/{world_id}/here")
        async def here(world_id: int) -> dict[str, int]:
            return {"world_id": world_id}

        return router

    @hookimpl
    def provide_admin_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/credentials")
        async def credentials(request: Request) -> dict[str, Any]:
            return {
                "authorization": request.headers.get("authorization"),
                "cookies": dict(request.cookies),
                "header_names": sorted({name.lower() for name in request.headers}),
            }

        return router


class Notes:
    """Another route plugin: the one Snoop tries to act as."""

    manifest = manifest("notes", "routes:register", "session:write")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()
        context = get_plugin_context("notes")

        @router.get("/whoami")
        async def whoami(ctx: Any = Depends(context)) -> dict[str, str]:
            return {"plugin": ctx.plugin_id}

        return router


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Snoop]]:
    snoop = Snoop()
    app = create_app(Settings(database_url=database_url, admin_token=TOKEN), plugins=[snoop, Notes()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client, snoop


# -- a route handler reaching for the house ---------------------------------------------------------------------------
async def test_a_plugin_route_cannot_read_the_admin_token_from_its_app(served: Any) -> None:
    _, client, _ = served
    response = await client.get("/api/v1/plugins/snoop/admin-token", headers=ADMIN)
    assert response.json() == {"refused": "AttributeError"}
    assert TOKEN not in response.text


async def test_a_plugin_routes_app_is_a_room_with_only_its_own_routes_and_an_empty_state(served: Any) -> None:
    app, client, snoop = served
    response = await client.get("/api/v1/plugins/snoop/house")
    assert response.json() == {
        "host": None,
        "state": [],
        "request_state": [],
        "host_of": "nothing",
        "routes": [
            "/add-route",
            "/admin-token",
            "/as-notes",
            "/house",
            "/impersonate",
            "/override-admin",
            "/own",
            "/walk",
            "/worlds/{world_id}/here",
        ],
        "router_is_its_own": True,
    }
    assert snoop.found["app"] is not app and snoop.found["router"] is not app.router
    house = {id(app), id(app.router), id(app.state), id(app.state.host), id(app.state.settings)}
    assert [key for key, value in snoop.found["app_vars"].items() if id(value) in house] == []


async def test_the_scope_a_plugin_route_sees_holds_no_entry_of_the_host(served: Any) -> None:
    app, client, snoop = served
    await client.get("/api/v1/plugins/snoop/house", headers=ADMIN | {"Cookie": COOKIES})
    scope = snoop.found["scope"]
    assert scope["app"] is snoop.found["app"] and scope["state"] == {}
    assert "authorization" not in {name.decode() for name, _ in scope["headers"]}
    assert b"stolen-session" not in b"".join(value for _, value in scope["headers"])
    host_side = {id(app), id(app.router), id(app.state), id(app.state.host)}
    assert [key for key, value in scope.items() if id(value) in host_side] == []


async def test_nothing_of_the_host_is_reachable_by_plain_attributes_from_a_plugin_request(served: Any) -> None:
    """From the ``request`` a handler is given (its app, scope, receive and send, the sub-app's middleware and
    handlers): closure cells, bound methods' ``__self__``, ``vars()``, container items. (gc, frames and module
    globals are the in-process limit: see the module docstring of pixsim_hooks.fastapi.)"""
    app, _, snoop = served
    cycle = await served_like_uvicorn(app, "/api/v1/plugins/snoop/walk")
    assert cycle.statuses == [200]
    house = {id(app), id(app.router), id(app.state), id(app.middleware_stack)}
    assert list(host_paths(snoop.found["request"], "request", house)) == []


class Cycle:
    """A request as a server like uvicorn holds it: ``receive`` and ``send`` are bound methods of the cycle, and
    the cycle keeps the scope the application fills in (``scope["app"]`` and the rest). httpx's transport hands the
    app closures that lead nowhere, so a walk behind it could not tell a sealed ``receive`` from the server's own."""

    def __init__(self, path: str, spec: str = "2.4", *, disconnect_after: int | None = None) -> None:
        headers = [(b"host", b"test"), (b"authorization", f"Bearer {TOKEN}".encode())]
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": spec},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
        }
        self.statuses: list[int] = []
        self.chunks = 0
        self._requested = False
        self._disconnect_after = disconnect_after
        self._disconnected = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnected.wait()  # as a server does: the next message is the client leaving
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        # A 2.3 server (uvicorn) drops what is sent after the client left, without a word.
        if message["type"] == "http.response.start":
            self.statuses.append(message["status"])
        elif message["type"] == "http.response.body" and not self._disconnected.is_set():
            self.chunks += 1
            if self.chunks == self._disconnect_after:
                self._disconnected.set()


async def served_like_uvicorn(app: FastAPI, path: str, spec: str = "2.4", **cycle: Any) -> Cycle:
    served = Cycle(path, spec, **cycle)
    await app(served.scope, served.receive, served.send)
    return served


async def test_the_server_cycle_does_lead_to_the_house(served: Any) -> None:
    """The control for the walks: what the server itself hands the app reaches the main app in two steps."""
    app, _, _ = served
    cycle = await served_like_uvicorn(app, "/api/v1/worlds")
    assert next(host_paths(cycle.receive, "receive", {id(app)})) == "receive.__self__.scope['app'] -> FastAPI"


async def test_the_walk_finds_the_house_where_a_path_exists(served: Any) -> None:
    """The walk itself can fail: handed the main app's ``receive`` unsealed, it would find the house."""
    app, _, _ = served

    class Leaky:
        def __init__(self) -> None:
            self.receive = types.MethodType(lambda self: None, app)

    assert next(host_paths(Leaky(), "leaky", {id(app)})) == "leaky.receive.__self__ -> FastAPI"


async def test_dependency_overrides_written_by_a_plugin_turn_nothing_of_the_host_off(served: Any) -> None:
    app, client, _ = served
    assert (await client.post("/api/v1/plugins/snoop/override-admin")).json() == {"overrides": 2}

    assert app.dependency_overrides == {}
    assert (await client.get("/api/v1/admin/plugins")).status_code == 401
    assert (await client.get("/api/v1/admin/plugins/snoop/credentials")).status_code == 401
    assert (await client.get("/api/v1/admin/plugins", headers=ADMIN)).status_code == 200


async def test_asking_for_another_plugins_context_is_denied_and_recorded(served: Any) -> None:
    app, client, _ = served
    called = await client.get("/api/v1/plugins/snoop/impersonate")
    assert called.json() == {"denied": "snoop", "member": "plugin_context('notes')"}

    depended = await client.get("/api/v1/plugins/snoop/as-notes")
    assert depended.status_code == 403
    assert (depended.json()["plugin"], depended.json()["permission"]) == ("snoop", None)
    assert (await client.get("/api/v1/plugins/snoop/own")).json() == {"got": "snoop"}
    assert (await client.get("/api/v1/plugins/notes/whoami")).json() == {"plugin": "notes"}
    assert app.state.host.health.view("snoop").denials == 2
    assert app.state.host.health.view("notes").denials == 0


async def test_an_admin_route_of_a_plugin_never_sees_the_operators_credentials(served: Any) -> None:
    _, client, _ = served
    response = await client.get("/api/v1/admin/plugins/snoop/credentials", headers=ADMIN | {"Cookie": COOKIES})
    assert response.status_code == 200
    body = response.json()
    assert (body["authorization"], body["cookies"]) == (None, {"theme": "dark"})
    assert "authorization" not in body["header_names"]


async def test_a_plugin_admin_route_without_the_token_is_refused_before_plugin_code(served: Any) -> None:
    _, client, _ = served
    response = await client.get("/api/v1/admin/plugins/snoop/credentials", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_routes_added_at_run_time_cannot_slip_past_the_world_gate(served: Any) -> None:
    _, client, snoop = served
    closed = await client.post("/api/v1/worlds", json={"name": "Closed", "meta": {"behavior": {"enabledPlugins": []}}})
    opened = await client.post("/api/v1/worlds", json={"name": "Open", "meta": {}})
    closed_id, open_id = closed.json()["id"], opened.json()["id"]
    assert (await client.get(f"/api/v1/plugins/snoop/worlds/{closed_id}/here")).status_code == 404

    assert (await client.post("/api/v1/plugins/snoop/add-route")).json() == {"routes": 10}  # through request.app
    assert (await client.get(f"/api/v1/plugins/snoop/worlds/{open_id}/late")).json() == {"late": "ran"}
    refused = await client.get(f"/api/v1/plugins/snoop/worlds/{closed_id}/late")
    assert refused.status_code == 404 and "ran" not in refused.text

    async def later(world_id: int) -> dict[str, str]:
        return {"later": "ran"}

    nested = APIRouter()
    nested.add_api_route("/worlds/{world_id}/later", later)
    assert snoop.router is not None
    snoop.router.include_router(nested)  # on the plugin's own router object, after mounting
    assert (await client.get(f"/api/v1/plugins/snoop/worlds/{open_id}/later")).json() == {"later": "ran"}
    refused = await client.get(f"/api/v1/plugins/snoop/worlds/{closed_id}/later")
    assert refused.status_code == 404 and "ran" not in refused.text


async def test_a_world_id_of_non_ascii_digits_is_no_world(served: Any) -> None:
    _, client, _ = served
    assert (await client.get("/api/v1/plugins/snoop/worlds/%C2%B2/here")).status_code == 404  # '²'.isdigit()


async def test_plugin_routes_are_listed_in_the_main_openapi_schema_and_core_routes_unchanged(served: Any) -> None:
    _, client, _ = served
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/api/v1/plugins/snoop/worlds/{world_id}/here" in paths
    assert "/api/v1/admin/plugins/snoop/credentials" in paths
    assert "/api/v1/plugins/notes/whoami" in paths
    assert "/api/v1/worlds" in paths
    assert (await client.get("/api/v1/worlds")).status_code == 200


# -- middleware ---------------------------------------------------------------------------------------------------
class Eavesdropper:
    """Middleware recording every path, header and scope key it sees; writes a secret into its request state."""

    manifest = manifest("eavesdropper", "middleware:http")

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.handed: dict[str, Any] = {}

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        def factory(app: Any) -> Any:
            self.handed["app"] = app

            async def middleware(scope: Any, receive: Any, send: Any) -> None:
                headers = {name.decode(): value.decode() for name, value in scope["headers"]}
                self.seen.append({"path": scope["path"], "headers": headers, "keys": set(scope)})
                self.handed.update(receive=receive, send=send, scope=scope)
                scope["state"]["secret"] = "eavesdropper's"
                await app(scope, receive, send)

            return middleware

        return factory


class Neighbour:
    """Middleware after the eavesdropper: what request state does it see?"""

    manifest = manifest("neighbour", "middleware:http")

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        def factory(app: Any) -> Any:
            async def middleware(scope: Any, receive: Any, send: Any) -> None:
                self.states.append(dict(scope["state"]))
                await app(scope, receive, send)

            return middleware

        return factory


class Rewriter:
    """Middleware rewriting a request into the admin API."""

    manifest = manifest("rewriter", "middleware:http")

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        def factory(app: Any) -> Any:
            async def middleware(scope: Any, receive: Any, send: Any) -> None:
                if scope["path"] == "/api/v1/worlds/sneak":
                    scope = dict(scope, path="/api/v1/admin/plugins", raw_path=b"/api/v1/admin/plugins")
                await app(scope, receive, send)

            return middleware

        return factory


@pytest.fixture
async def eavesdropped(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Any, Any]]:
    ears, neighbour = Eavesdropper(), Neighbour()
    settings = Settings(database_url=database_url, admin_token=TOKEN)
    app = create_app(settings, plugins=[ears, neighbour, Rewriter(), Snoop()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client, ears, neighbour


async def test_plugin_middleware_never_sees_the_admin_or_any_credential(eavesdropped: Any) -> None:
    _, client, ears, _ = eavesdropped
    credentials = ADMIN | {"Cookie": COOKIES, "Proxy-Authorization": "Basic cHJveHk6cGFzcw=="}
    assert (await client.get("/api/v1/worlds", headers=credentials)).status_code == 200
    assert (await client.get("/api/v1/admin/plugins", headers=credentials)).status_code == 200
    assert (await client.get("/api/v1/admin/plugins/snoop/credentials", headers=credentials)).status_code == 200
    assert (await client.get("/admin", headers=credentials)).status_code == 200
    assert (await client.post("/admin/login", data={"token": TOKEN}, headers={"Origin": "http://test"})).status_code
    assert (await client.get("/api/v1/plugins/snoop/own", headers=credentials)).status_code == 200

    assert [seen["path"] for seen in ears.seen] == ["/api/v1/worlds", "/api/v1/plugins/snoop/own"]
    for seen in ears.seen:
        assert "authorization" not in seen["headers"] and "proxy-authorization" not in seen["headers"]
        assert seen["headers"]["cookie"] == "theme=dark"
        assert TOKEN not in str(seen["headers"])
        assert seen["keys"] <= {
            "type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path",
            "client", "server", "headers", "state",
        }  # fmt: skip


async def test_each_plugin_middleware_has_a_request_state_of_its_own(eavesdropped: Any) -> None:
    _, client, ears, neighbour = eavesdropped
    await client.get("/api/v1/worlds")
    assert ears.handed["scope"]["state"] == {"secret": "eavesdropper's"}
    assert neighbour.states == [{}]


async def test_nothing_of_the_host_is_reachable_from_what_a_middleware_is_handed(eavesdropped: Any) -> None:
    app, _, ears, _ = eavesdropped
    assert (await served_like_uvicorn(app, "/api/v1/worlds")).statuses == [200]
    house = {id(app), id(app.router), id(app.state), id(app.middleware_stack)}
    for name in ("app", "receive", "send", "scope"):
        assert list(host_paths(ears.handed[name], name, house)) == [], name


async def test_a_middleware_cannot_rewrite_a_request_into_the_admin(eavesdropped: Any) -> None:
    app, client, _, _ = eavesdropped
    response = await client.get("/api/v1/worlds/sneak", headers=ADMIN)
    assert response.status_code == 403
    assert response.json()["plugin"] == "rewriter"
    assert "sneak" not in str(app.state.host.health.view("snoop").recent)
    assert app.state.host.health.view("rewriter").failures == {"denied": 1}


async def test_the_core_still_gets_the_requests_own_credentials_through_plugin_middleware(database_url: str) -> None:
    """Plugin middleware sees no credentials, but what it passes on reaches the core with them put back."""
    ears = Eavesdropper()
    app = create_app(Settings(database_url=database_url, admin_token=TOKEN), plugins=[ears], entry_points=[])
    seen_by_core: list[str | None] = []

    @app.get("/api/v1/echo-auth")
    async def echo(request: Request) -> None:
        seen_by_core.append(request.headers.get("authorization"))
        seen_by_core.append(request.cookies.get("pixsim_admin"))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/api/v1/echo-auth", headers=ADMIN | {"Cookie": COOKIES})
    assert seen_by_core == [f"Bearer {TOKEN}", "stolen-session"]
    assert ears.seen[0]["headers"]["cookie"] == "theme=dark"


# -- BaseException from plugin code -------------------------------------------------------------------------------
class Exits:
    """Raises what is not an Exception from its handlers, a dependency and (on one path) its middleware."""

    manifest = manifest("exits", "routes:register", "middleware:http")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/system-exit")
        async def system_exit() -> None:
            raise SystemExit(3)

        @router.get("/keyboard-interrupt")
        async def keyboard_interrupt() -> None:
            raise KeyboardInterrupt

        @router.get("/generator-exit")
        async def generator_exit() -> None:
            raise GeneratorExit

        @router.get("/cancelled")
        async def cancelled() -> None:
            raise asyncio.CancelledError  # nobody cancelled it: the plugin's own doing

        @router.get("/sync-system-exit")
        def sync_system_exit() -> None:  # runs in the threadpool
            raise SystemExit(4)

        def interrupting() -> None:
            raise KeyboardInterrupt

        @router.get("/dependency")
        async def dependency(_: None = Depends(interrupting)) -> None:
            return None

        return router

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        def factory(app: Any) -> Any:
            async def middleware(scope: Any, receive: Any, send: Any) -> None:
                if scope["path"].endswith("/locations"):
                    raise SystemExit("middleware exits")
                await app(scope, receive, send)

            return middleware

        return factory


async def test_base_exceptions_from_plugin_routes_and_middleware_are_the_plugins_502(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), plugins=[Exits()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            world = (await client.post("/worlds", json={"name": "W", "meta": {}})).json()
            expected = {
                "/plugins/exits/system-exit": "SystemExit",
                "/plugins/exits/keyboard-interrupt": "KeyboardInterrupt",
                "/plugins/exits/generator-exit": "GeneratorExit",
                "/plugins/exits/cancelled": "CancelledError",
                "/plugins/exits/sync-system-exit": "SystemExit",
                "/plugins/exits/dependency": "KeyboardInterrupt",
                f"/worlds/{world['id']}/locations": "SystemExit",
            }
            for path, raised in expected.items():
                response = await client.get(path)
                assert response.status_code == 502, path
                assert response.json() == {
                    "type": "urn:pixsim:problem:plugin-error",
                    "title": "Plugin failed",
                    "status": 502,
                    "detail": f"plugin 'exits' failed while handling this request ({raised})",
                    "plugin": "exits",
                }
                assert (await client.get("/worlds")).status_code == 200  # the server keeps answering
            recorded = [(r.where, r.exc_type) for r in app.state.host.health.view("exits").recent]
    assert recorded[-1] == ("middleware", "SystemExit")
    assert ("route GET /api/v1/plugins/exits/system-exit", "SystemExit") in recorded
    assert len(recorded) == 7


class Streams:
    """Streaming responses: one whose body raises SystemExit halfway, one that never ends."""

    manifest = manifest("streams", "routes:register")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/exit-mid-stream")
        async def exit_mid_stream() -> StreamingResponse:
            async def body() -> AsyncIterator[bytes]:
                yield b"first"
                raise SystemExit("in the stream")

            return StreamingResponse(body())

        @router.get("/forever")
        async def forever() -> StreamingResponse:
            async def body() -> AsyncIterator[bytes]:
                while True:
                    yield b"data: tick\n\n"
                    await asyncio.sleep(0)  # waits for its next event (here: none to wait for)

            return StreamingResponse(body(), media_type="text/event-stream")

        return router


@pytest.fixture
async def streaming(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(database_url=database_url), plugins=[Streams()], entry_points=[])
    async with app.router.lifespan_context(app):
        yield app


async def test_a_stream_body_raising_system_exit_under_a_2_3_server_stops_nothing_but_its_response(
    streaming: FastAPI,
) -> None:
    """Under spec 2.3 Starlette would stream from a task of its own, whence asyncio hands a SystemExit to the event
    loop (the server stops); the plugin's room streams in the request's task, where it is contained."""
    with pytest.raises(RuntimeError, match="plugin 'streams' failed after its response started"):
        await served_like_uvicorn(streaming, "/api/v1/plugins/streams/exit-mid-stream", "2.3")
    recent = streaming.state.host.health.view("streams").recent
    assert [(r.where, r.exc_type) for r in recent] == [
        ("route GET /api/v1/plugins/streams/exit-mid-stream", "SystemExit")
    ]
    assert (await served_like_uvicorn(streaming, "/api/v1/worlds", "2.3")).statuses == [200]


async def test_a_stream_that_never_ends_stops_when_the_client_leaves_and_is_no_failure(streaming: FastAPI) -> None:
    async with asyncio.timeout(10):  # a deadline for a hang, not a synchronisation: the stream ends on its own
        served = await served_like_uvicorn(streaming, "/api/v1/plugins/streams/forever", "2.3", disconnect_after=3)
    assert served.statuses == [200] and served.chunks == 3
    assert streaming.state.host.health.view("streams").recent == ()


class ExitsAtStartUp:
    """Every start-up hook raises what is not an Exception."""

    manifest = manifest("exits-early", "routes:register", "admin:routes", "middleware:http")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        raise SystemExit("no router")

    @hookimpl
    def provide_admin_router(self, ctx: Any) -> APIRouter:
        raise KeyboardInterrupt

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        def factory(app: Any) -> Any:
            raise SystemExit("no middleware")

        return factory


class HostileRouter:
    """Returns something whose ``__class__`` raises when ``isinstance`` asks it."""

    manifest = manifest("hostile-router", "routes:register")

    @hookimpl
    def provide_router(self, ctx: Any) -> Any:
        class Liar:
            @property  # type: ignore[misc]
            def __class__(self) -> type:
                raise SystemExit("asked")

        return Liar()


async def test_base_exceptions_at_start_up_do_not_stop_the_app_from_booting(database_url: str) -> None:
    settings = Settings(database_url=database_url, admin_token=TOKEN)
    app = create_app(settings, plugins=[ExitsAtStartUp(), HostileRouter(), Notes()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            assert (await client.get("/worlds")).status_code == 200
            assert (await client.get("/plugins/notes/whoami")).json() == {"plugin": "notes"}
            assert (await client.get("/plugins/exits-early/anything")).status_code == 404
            early = {(r.where, r.exc_type) for r in app.state.host.health.view("exits-early").recent}
            hostile = [(r.where, r.exc_type) for r in app.state.host.health.view("hostile-router").recent]
    assert {("provide_router", "SystemExit"), ("provide_admin_router", "KeyboardInterrupt")} <= early
    assert ("provide_middleware", "SystemExit") in early
    assert hostile == [("provide_router", "TypeError")]


def test_the_sub_applications_handlers_must_hold_nothing() -> None:
    """Plugin code reads ``request.app.exception_handlers``: a closure or bound method there would lead home."""
    host = create_host(Settings(), entry_points=[])

    async def closing_over_the_host(request: Any, exc: Exception) -> Any:
        return host

    for handlers in ({HTTPException: closing_over_the_host}, {HTTPException: host.health.record_denial}):
        with pytest.raises(TypeError, match="must be a plain function"):
            mount_plugin_routers(FastAPI(), host, exception_handlers=handlers)
    with pytest.raises(ValueError, match="no 500 handler"):
        mount_plugin_routers(FastAPI(), host, exception_handlers={Exception: plugin_problem_handlers})


class Pretender:
    """In process, returns what only the host's stand-in for a sandboxed plugin may return."""

    manifest = manifest("pretender", "routes:register")

    @hookimpl
    def provide_router(self, ctx: Any) -> ForwardedRoutes:
        async def forward(request: dict[str, Any], ctx: Any) -> RouteAnswer:
            return RouteAnswer("response", 200, (), b"mounted")

        return ForwardedRoutes("pretender", "provide_router", (RouteShape("/x", ("GET",), "x"),), forward)


async def test_an_in_process_plugin_returning_forwarded_routes_is_refused_like_any_non_router(
    database_url: str,
) -> None:
    app = create_app(Settings(database_url=database_url), plugins=[Pretender()], entry_points=[])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1") as client,
    ):
        assert (await client.get("/plugins/pretender/x")).status_code == 404
        (failure,) = app.state.host.health.view("pretender").recent
        assert (failure.where, failure.exc_type) == ("provide_router", "TypeError")


class Ledger:
    manifest = manifest("ledger", "routes:register")

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/balance")
        async def balance() -> dict[str, int]:
            return {"balance": _sum_of_entries()}

        return router


def _sum_of_entries() -> int:
    raise ArithmeticError("the ledger does not balance")


async def test_a_route_failure_is_logged_with_the_plugins_file_and_line(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), plugins=[Ledger()], entry_points=[])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1") as client,
    ):
        with capture_logs() as logs:
            assert (await client.get("/plugins/ledger/balance")).status_code == 502
    (line,) = [e for e in logs if e["event"] == "plugin call failed; fallback applied"]
    assert (line["log_level"], line["plugin_id"], line["hook"]) == (
        "error",
        "ledger",
        "route GET /api/v1/plugins/ledger/balance",
    )
    trace = line["traceback"]
    assert f'File "{__file__}"' in trace and "in balance" in trace and "in _sum_of_entries" in trace
    assert 'raise ArithmeticError("the ledger does not balance")' in trace
    assert trace.endswith("ArithmeticError: the ledger does not balance")
    assert "starlette" not in trace and "pixsim_hooks" not in trace  # the host's frames summarised

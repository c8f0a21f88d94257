"""A plugin route with context DI vs a plain FastAPI route, driven as raw ASGI calls (no HTTP client in the way).

Baseline: the same handler on a bare ``FastAPI()`` app. Measured: a route plugin's handler taking
``ctx = Depends(get_plugin_context(...))`` in the backend app (plugin gate, PluginMiddleware, problem handlers).
Requests/s are the inverse of the best-of-N time per request.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from bench._harness import Row, ratio_at_most
from pixsim_hooks import PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.fastapi import get_plugin_context
from pixsim_hooks.host import Settings

N = 3_000


class _Echo:
    manifest = PluginManifest(
        id="echo", name="Echo", version="1.0.0", trust="first_party", permissions=("routes:register",)
    )

    @hookimpl
    def provide_router(self, ctx: Any) -> APIRouter:
        router = APIRouter()
        context = get_plugin_context("echo")

        @router.get("/ping")
        async def ping(ctx: Any = Depends(context)) -> dict[str, str]:
            return {"pong": ctx.plugin_id}

        return router


def _plain_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/plugins/echo/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "echo"}

    return app


async def _per_request_ns(app: Any, path: str) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(N):
            await app(dict(scope), receive, send)
        best = min(best, (time.perf_counter_ns() - start) / N)
    assert set(statuses) == {200}, set(statuses)
    return best


async def _measure() -> tuple[float, float, float, float]:
    bare = await _per_request_ns(_plain_app(), "/api/v1/plugins/echo/ping")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        app = create_app(Settings(database_url=url), plugins=[_Echo()], entry_points=[])

        # The same handler without the plugin machinery, mounted the way plugin and core routers are (an included
        # router with a prefix) in the same app: same routing depth, same middleware.
        plain_router = APIRouter()

        @plain_router.get("/ping")
        async def plain_ping() -> dict[str, str]:
            return {"pong": "echo"}

        # The floor of any context DI: the same route with one trivial async dependency.
        dep_router = APIRouter()

        async def trivial() -> int:
            return 1

        @dep_router.get("/ping")
        async def dep_ping(x: int = Depends(trivial)) -> dict[str, str]:
            return {"pong": "echo"}

        async with app.router.lifespan_context(app):
            # mounted after the plugin routers (mounted at start-up), so they are matched last, as plugin routes are
            app.include_router(plain_router, prefix="/api/v1/plain")
            app.include_router(dep_router, prefix="/api/v1/dep")
            plain = await _per_request_ns(app, "/api/v1/plain/ping")
            plugin = await _per_request_ns(app, "/api/v1/plugins/echo/ping")
            trivial_dep = await _per_request_ns(app, "/api/v1/dep/ping")
    return bare, plain, plugin, trivial_dep


def run() -> list[Row]:
    bare, plain, plugin, trivial_dep = asyncio.run(_measure())
    rates = f"requests/s: {1e9 / plugin:,.0f} plugin route with ctx DI, {1e9 / plain:,.0f} plain route"
    return [
        # requests/s >= 0.9x a plain route's
        Row("routes.plugin_ctx", plugin, "plain route, same app", plain, ratio_at_most(1 / 0.9), rates),
        Row("routes.trivial_depends", trivial_dep, "plain route, same app", plain, note="the floor of any DI"),
        Row("routes.plugin_ctx.vs_bare", plugin, "one-route bare FastAPI app", bare, note="for reference"),
    ]


if __name__ == "__main__":
    from bench._harness import print_rows

    print_rows("routes", run())

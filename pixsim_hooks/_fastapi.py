"""FastAPI glue: plugin contexts as dependencies, guarded plugin routers, and the plugins' ASGI middleware.

* :func:`get_plugin_context` — ``ctx = Depends(get_plugin_context("stealth"))`` in a plugin's route handler gives
  that plugin's own context (404 when the plugin is not enabled).
* :func:`mount_plugin_routers` — mounts each plugin's router under ``/api/v1/plugins/<id>/`` (admin routers under
  ``/api/v1/admin/plugins/<id>/``, behind the admin guard). A path carrying ``{world_id}`` answers 404 for a world
  that has not enabled the plugin. ``PermissionDenied`` becomes a 403 problem naming plugin and permission; any
  other exception a 502 problem naming the plugin (the plugin failed, not the core), recorded against it.
* :class:`PluginMiddleware` — installed when the app is created (Starlette freezes the middleware stack at the
  first call), it runs the plugins' middleware, outermost first in load order, once the host is up.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter

from pixsim_hooks._context import PluginContext
from pixsim_hooks._exceptions import PermissionDenied, PluginNotEnabled, UnknownPluginError
from pixsim_hooks._health import Outcome
from pixsim_hooks._host import PluginHost
from pixsim_hooks._telemetry import ATTR_PLUGIN

__all__ = [
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "PROBLEM_MEDIA_TYPE",
    "PluginMiddleware",
    "get_plugin_context",
    "host_of",
    "mount_plugin_routers",
    "problem_json",
]

PLUGIN_API_PREFIX = "/api/v1/plugins"
PLUGIN_ADMIN_PREFIX = "/api/v1/admin/plugins"
PROBLEM_MEDIA_TYPE = "application/problem+json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_log = structlog.get_logger("pixsim_hooks.routes")


def problem_json(status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def host_of(request: Request) -> PluginHost:
    host = getattr(request.app.state, "host", None)
    if not isinstance(host, PluginHost):
        raise RuntimeError("no plugin host on app.state.host; build the app with a host in its lifespan")
    return host


@functools.cache
def get_plugin_context(plugin_id: str) -> Callable[[Request], Awaitable[PluginContext]]:
    """A FastAPI dependency giving ``plugin_id``'s own context.

    404 while the plugin is not enabled, and for a ``{world_id}`` in the path whose world has not enabled it. The
    host mounts the plugin's router with this same dependency, and FastAPI solves one dependency once per request,
    so a handler that asks for ``ctx`` costs nothing more than the gate (one function object per plugin id).
    """

    # async on purpose: FastAPI runs a sync dependency in its threadpool, a thread hop on every request.
    async def plugin_context(request: Request) -> PluginContext:
        host = host_of(request)
        try:
            ctx = host.context(plugin_id)
        except (PluginNotEnabled, UnknownPluginError):
            raise HTTPException(404, f"plugin {plugin_id!r} is not enabled") from None
        raw = request.path_params.get("world_id")
        if raw is not None:
            world = await host.storage.worlds.get_world(int(raw)) if str(raw).isdigit() else None
            if world is None or not host.world_scope(world.id, world.meta).allows(plugin_id):
                raise HTTPException(404, f"world {raw} has not enabled plugin {plugin_id!r}")
        return ctx

    plugin_context.__name__ = f"plugin_context_{plugin_id.replace('-', '_')}"
    return plugin_context


def mount_plugin_routers(app: FastAPI, host: PluginHost, *, admin_guard: Any = None) -> list[str]:
    """Mount every enabled plugin's router (and admin router, when ``admin_guard`` is given). Returns the ids."""
    mounted = []
    for plugin_id, router in host.hook.provide_router.collect_sync():
        if _mount(app, host, plugin_id, router, PLUGIN_API_PREFIX, []):
            mounted.append(plugin_id)
    if admin_guard is not None:
        for plugin_id, router in host.hook.provide_admin_router.collect_sync():
            _mount(app, host, plugin_id, router, PLUGIN_ADMIN_PREFIX, [admin_guard])
    app.openapi_schema = None  # plugin routes belong in the schema too
    return mounted


def _mount(app: FastAPI, host: PluginHost, plugin_id: str, router: Any, prefix: str, guards: list[Any]) -> bool:
    if not isinstance(router, APIRouter):
        exc = TypeError(f"provide_router returned {type(router).__name__}, not a fastapi.APIRouter")
        host.health.record_failure(plugin_id, "provide_router", Outcome.ERROR, exc)
        return False
    dependencies = [*guards, Depends(get_plugin_context(plugin_id))]
    app.include_router(router, prefix=f"{prefix}/{plugin_id}", dependencies=dependencies, tags=[f"plugin:{plugin_id}"])
    return True


def _plugin_of_path(path: str, host: PluginHost) -> str | None:
    """The plugin whose routes live at ``path`` (they are mounted only under the two plugin prefixes)."""
    for prefix in (PLUGIN_API_PREFIX, PLUGIN_ADMIN_PREFIX):
        if path.startswith(prefix + "/"):
            plugin_id = path[len(prefix) + 1 :].partition("/")[0]
            return plugin_id if plugin_id in host.load_order else None
    return None


def _plugin_failure(host: PluginHost, plugin_id: str, where: str, exc: Exception) -> JSONResponse:
    if isinstance(exc, PermissionDenied):
        host.health.record_failure(plugin_id, where, Outcome.DENIED, exc)
        return problem_json(
            403,
            "Permission denied",
            str(exc),
            type_="urn:pixsim:problem:plugin-permission-denied",
            plugin=plugin_id,
            permission=exc.permission,
        )
    host.health.record_failure(plugin_id, where, Outcome.ERROR, exc)
    return problem_json(
        502,
        "Plugin failed",
        f"plugin {plugin_id!r} failed while handling this request ({type(exc).__name__})",
        type_="urn:pixsim:problem:plugin-error",
        plugin=plugin_id,
    )


class PluginMiddleware:
    """Runs the plugins' ASGI middleware and answers for what escapes a plugin's routes.

    Installed when the app is created (Starlette freezes the middleware stack at the first call); the chain is built
    on the first request after a host is attached (``app.state.host``), in plugin load order, first loaded =
    outermost. What escapes the app on a plugin's path (``/api/v1/plugins/<id>/...``) is that plugin's failure:
    ``PermissionDenied`` becomes a 403 problem naming plugin and permission, anything else a 502 problem naming the
    plugin, recorded against it. A plugin middleware that raises is answered the same way; errors of the core app
    pass through every plugin middleware untouched and unblamed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._chain: ASGIApp | None = None
        self._built_for: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = getattr(scope["app"].state, "host", None) if scope["type"] == "http" else None
        if not isinstance(host, PluginHost):
            await self.app(scope, receive, send)
            return
        if self._built_for is not host:
            self._chain, self._built_for = self._build(host), host
        assert self._chain is not None
        plugin_id = _plugin_of_path(scope["path"], host)
        if plugin_id is None:
            try:
                await self._chain(scope, receive, send)
            except _CoreError as carrier:
                raise carrier.original from None
            return
        await self._plugin_request(host, plugin_id, scope, receive, send)

    async def _plugin_request(
        self, host: PluginHost, plugin_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """A request to a plugin's route: a span tagged with the plugin (tracing on), request count and latency."""
        assert self._chain is not None
        tracer, start = host.telemetry.tracer, time.perf_counter_ns()
        attributes = {ATTR_PLUGIN: plugin_id, "http.request.method": scope["method"], "url.path": scope["path"]}
        span = tracer.start_span("pixsim.route", attributes=attributes) if tracer is not None else None
        sent = _SendTracker(send)
        try:
            await self._chain(scope, receive, sent)
        except _CoreError as carrier:
            if sent.started:
                raise carrier.original from None
            where = f"route {scope['method']} {scope['path']}"
            response = _plugin_failure(host, plugin_id, where, carrier.original)
            sent.status = response.status_code
            await response(scope, receive, send)
        finally:
            host.telemetry.record_route(plugin_id, scope["method"], sent.status, time.perf_counter_ns() - start)
            if span is not None:
                span.set_attribute("http.response.status_code", sent.status)
                span.end()

    def _build(self, host: PluginHost) -> ASGIApp:
        order = {pid: i for i, pid in enumerate(host.load_order)}
        factories = sorted(host.hook.provide_middleware.collect_sync(), key=lambda pair: order[pair[0]])
        chain: ASGIApp = _core(self.app)
        for plugin_id, factory in reversed(factories):  # wrap the last loaded first: the first ends outermost
            try:
                chain = _guarded_middleware(factory(chain), plugin_id, host)
            except Exception as exc:
                host.health.record_failure(plugin_id, "provide_middleware", Outcome.ERROR, exc)
        return chain


class _SendTracker:
    """Wraps ``send`` to know whether a response has started (after that, no problem response can be sent)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 500  # until a response starts: what the server will answer if nothing does

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started, self.status = True, message["status"]
        await self._send(message)


class _CoreError(Exception):
    """Carries an exception of the core app through the plugins' middleware, so none of them is blamed for it."""

    def __init__(self, original: Exception) -> None:
        self.original = original


def _core(app: ASGIApp) -> ASGIApp:
    async def core(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            raise _CoreError(exc) from exc

    return core


def _guarded_middleware(middleware: ASGIApp, plugin_id: str, host: PluginHost) -> ASGIApp:
    async def plugin_middleware(scope: Scope, receive: Receive, send: Send) -> None:
        sent = _SendTracker(send)
        try:
            await middleware(scope, receive, sent)
        except _CoreError:
            raise
        except Exception as exc:
            if sent.started:
                raise
            await _plugin_failure(host, plugin_id, "middleware", exc)(scope, receive, send)

    return plugin_middleware

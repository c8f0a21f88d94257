"""One plugin's room: its routes in a FastAPI sub-application of their own, entered only through the host's side.

:class:`PluginRoom` is the host's side, mounted in the main application's router (plugin code never holds it). On
each request it checks what only the host may decide — the admin guard (admin routes), that the plugin is enabled,
and the ``{world_id}`` gate (matched against copies of the route patterns, taken again whenever the routes change)
— then enters the plugin's :class:`PluginApp` with a scope of its own: the allowlisted request entries, a fresh
``state``, no ``Authorization`` / ``Proxy-Authorization`` header or credential cookie, and the plugin's own context
under :data:`CONTEXT_KEY`; ``receive`` and ``send`` go in sealed. There ``request.app`` is the sub-application: its
``state`` is empty, its ``dependency_overrides`` reach nothing of the host, its router is the plugin's own and lists
only the plugin's routes, and nothing it holds leads back to the host, the storage or the settings.

Whatever a plugin's route code raises — any ``BaseException`` but the host's own cancellation, from a handler, a
dependency or a streaming body (which runs in the request's task: see ``_scopes``) — is answered here as that
plugin's problem (403 for ``PermissionDenied``, else 502), recorded against it; once its response has started, it
is recorded and the server ends the response. The room's own checks run outside that, so the core's errors (a
failing world lookup) stay the core's.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.responses import Response
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from pixsim_hooks.fastapi._problems import PLUGIN_APP_HANDLERS, plugin_failure
from pixsim_hooks.fastapi._scopes import (
    SendTracker,
    host_cancelled,
    route_path,
    served_routes,
    split_credentials,
    visible_scope,
)
from pixsim_hooks.fastapi._sealed import Sealed
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import PluginContext, PluginNotEnabled, UnknownPluginError
from pixsim_hooks.runtime import ROUTE_CONTEXT_KEY
from pixsim_hooks.telemetry import ATTR_PLUGIN

__all__ = ["CONTEXT_KEY", "AdminGuard", "PluginApp", "PluginRoom", "host_in"]

CONTEXT_KEY = ROUTE_CONTEXT_KEY  # the same entry a sandboxed plugin's route finds its context under, in its child
AdminGuard = Callable[[Request], Awaitable[None]]
"""Checks a request to a plugin's admin route on the host's side (raise ``HTTPException`` to refuse it)."""

_WORLD_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only (str.isdigit takes '²'), within a 64-bit id


class PluginApp(FastAPI):
    """A plugin's sub-application: its own router, an empty ``state``, no error middleware of its own."""

    def __init__(self, router: APIRouter, handlers: Mapping[Any, Any]) -> None:
        super().__init__(
            openapi_url=None,  # its routes are documented in the main app's schema (mount_plugin_routers)
            docs_url=None,
            redoc_url=None,
            exception_handlers=dict(handlers),
        )
        # The plugin's own router is the sub-app's: its routes are matched directly (an included router would be
        # matched twice on every request), and it is nothing the plugin did not already hold.
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own call, without FastAPI's telemetry wrapper (off here; the room traces the plugin's request).
        await Starlette.__call__(self, scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        # Only what routes need: handlers for HTTP and validation errors, and the exit stack that closes uploads.
        # No ServerErrorMiddleware: it would answer a plugin's exception with a 500 of its own before the room could
        # answer it as the plugin's 502; what escapes the routes goes to the room instead.
        handlers = {key: h for key, h in self.exception_handlers.items() if key not in (500, Exception)}
        return ExceptionMiddleware(AsyncExitStackMiddleware(self.router), handlers=handlers, debug=self.debug)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the router matches a route by, copied at mount: the gate never asks the plugin's objects again."""

    regex: re.Pattern[str]
    methods: frozenset[str] | None
    world_scoped: bool


class PluginRoom:
    """The host's side of one plugin's sub-application (see the module docstring)."""

    def __init__(
        self,
        plugin_id: str,
        app: PluginApp,
        *,
        guard: AdminGuard | None,
        handlers: Mapping[Any, Any],
        cookies: frozenset[str],
    ) -> None:
        self.plugin_id = plugin_id
        self._app = app
        self._seen: tuple[int, int, object] | None = None
        self._shapes: tuple[_Shape, ...] = ()
        self._refresh_shapes()
        self._guard = guard
        self._handlers = dict(handlers)
        self._cookies = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # plugin routes are HTTP only; a WebSocket is closed (policy violation)
            await send({"type": "websocket.close", "code": 1008})
            return
        host = host_in(scope)
        tracer, start = host.telemetry.tracer, time.perf_counter_ns()
        attributes = {ATTR_PLUGIN: self.plugin_id, "http.request.method": scope["method"], "url.path": scope["path"]}
        span = tracer.start_span("pixsim.route", attributes=attributes) if tracer is not None else None
        sent = SendTracker(send, receive, scope)
        try:
            admitted = await self._admit(host, scope)
            if isinstance(admitted, HTTPException):
                await (await self._render(scope, admitted))(scope, receive, sent)
            elif isinstance(admitted, _Failed):
                where = f"route {scope['method']} {scope['path']}"
                await plugin_failure(host, self.plugin_id, where, admitted.exc)(scope, receive, sent)
            else:
                await self._enter(host, admitted, scope, receive, sent)
        finally:
            sent.close()
            host.telemetry.record_route(self.plugin_id, scope["method"], sent.status, time.perf_counter_ns() - start)
            if span is not None:
                span.set_attribute("http.response.status_code", sent.status)
                span.end()

    async def _admit(self, host: PluginHost, scope: Scope) -> PluginContext | HTTPException | _Failed:
        """The plugin's context, or why this request does not reach it. The host's checks, before plugin code."""
        if self._guard is not None:
            try:
                await self._guard(Request(scope))
            except HTTPException as refused:
                return refused
        try:
            ctx = host.context(self.plugin_id)
        except (PluginNotEnabled, UnknownPluginError):
            return HTTPException(404, f"plugin {self.plugin_id!r} is not enabled")
        try:
            raw = self._world_id(scope)  # reads the shapes of the plugin's routes: what fails there is the plugin's
        except BaseException as exc:
            if host_cancelled(exc):
                raise
            return _Failed(exc)
        if raw is not None and not await self._world_allows(host, raw):
            return HTTPException(404, f"world {raw} has not enabled plugin {self.plugin_id!r}")
        return ctx

    async def _enter(
        self, host: PluginHost, ctx: PluginContext, scope: Scope, receive: Receive, sent: SendTracker
    ) -> None:
        headers, _ = split_credentials(scope["headers"], self._cookies)
        child = visible_scope(scope, headers)
        child[CONTEXT_KEY] = ctx  # the plugin's own context: get_plugin_context answers from it, for this plugin only
        try:
            await self._app(child, Sealed(receive), Sealed(sent))
        except BaseException as exc:
            if host_cancelled(exc):
                raise
            if sent.gone:
                return  # the client left mid-stream: nobody to answer, nothing the plugin did wrong
            response = plugin_failure(host, self.plugin_id, f"route {scope['method']} {scope['path']}", exc)
            if sent.started:
                # Nothing more can be said to the client; the failure is recorded and the server ends the response.
                raise RuntimeError(f"plugin {self.plugin_id!r} failed after its response started") from exc
            await response(scope, receive, sent)

    def _world_id(self, scope: Scope) -> str | None:
        """The raw ``{world_id}`` of the route the sub-app's router will pick (first full match, else the first
        partial one, as Starlette's router decides), or None when that route is not world-scoped."""
        self._refresh_shapes()
        path, method = route_path(scope), scope["method"]
        full: tuple[_Shape, re.Match[str]] | None = None
        partial: tuple[_Shape, re.Match[str]] | None = None
        for shape in self._shapes:
            match = shape.regex.match(path)
            if match is None:
                continue
            if shape.methods is None or method in shape.methods:
                full = (shape, match)
                break
            partial = partial or (shape, match)
        chosen = full or partial
        if chosen is None or not chosen[0].world_scoped:
            return None
        return chosen[1].group("world_id")

    def _refresh_shapes(self) -> None:
        """Copy the routes' shapes again when the routes changed since the last copy.

        The sub-app serves the plugin's own router, so a route the plugin adds later (to it, or to a router it
        included, which FastAPI includes lazily) is served: the list's identity and length, and FastAPI's routes
        version where it keeps one, tell the gate to look again. The shapes are copied, so the gate matches against
        compiled patterns, never against the plugin's objects."""
        router = self._app.router
        version = getattr(router, "_get_routes_version", None)  # FastAPIs that include routers lazily keep one
        seen = (id(router.routes), len(router.routes), version() if version is not None else None)
        if seen != self._seen:
            self._shapes, self._seen = _shapes(router.routes), seen

    async def _world_allows(self, host: PluginHost, raw: str) -> bool:
        if _WORLD_ID.fullmatch(raw) is None:
            return False
        world = await host.storage.worlds.get_world(int(raw))
        return world is not None and host.world_scope(world.id, world.meta).allows(self.plugin_id)

    async def _render(self, scope: Scope, exc: HTTPException) -> Response:
        handler = next((self._handlers[c] for c in type(exc).__mro__ if c in self._handlers), None)
        handler = handler or PLUGIN_APP_HANDLERS[HTTPException]
        response = handler(Request(scope), exc)
        return await response if inspect.isawaitable(response) else response  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Failed:
    """Plugin code failed before the plugin's app was entered (while its routes were read)."""

    exc: BaseException


def host_in(scope: MutableMapping[str, Any]) -> PluginHost:
    """The host of the main application whose scope this is (host-side glue only)."""
    host = getattr(scope["app"].state, "host", None)
    if not isinstance(host, PluginHost):
        raise RuntimeError("no plugin host on app.state.host; build the app with a host in its lifespan")
    return host


def _shapes(routes: Iterable[BaseRoute]) -> tuple[_Shape, ...]:
    shapes = []
    for route in served_routes(routes):
        regex = getattr(route, "path_regex", None)
        if not isinstance(regex, re.Pattern):
            continue  # not routed by path: nothing to gate
        methods = getattr(route, "methods", None)
        scoped = "world_id" in dict(getattr(route, "param_convertors", None) or {})
        shapes.append(_Shape(regex, frozenset(map(str, methods)) if methods else None, scoped))
    return tuple(shapes)

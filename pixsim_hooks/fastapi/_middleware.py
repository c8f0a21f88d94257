"""The plugins' ASGI middleware, and the one place that answers for what escapes a plugin's routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pixsim_hooks.fastapi._problems import plugin_failure
from pixsim_hooks.fastapi._routes import plugin_of_path
from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.telemetry import ATTR_PLUGIN

__all__ = ["ASGIApp", "PluginMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
        plugin_id = plugin_of_path(scope["path"], host)
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
            response = plugin_failure(host, plugin_id, where, carrier.original)
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
            await plugin_failure(host, plugin_id, "middleware", exc)(scope, receive, send)

    return plugin_middleware

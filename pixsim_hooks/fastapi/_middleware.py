"""The plugins' ASGI middleware, each seeing a request without the house in it.

:class:`PluginMiddleware` runs the middleware the plugins provide (``provide_middleware``), first loaded =
outermost. It never runs them on the private paths (by default the admin API, ``/api/v1/admin/...``, and the admin
page, ``/admin...``): those requests go straight to the application. For the other requests each plugin's
middleware gets a scope of its own — the allowlisted request entries, a fresh ``state`` (no other plugin's), no
``Authorization`` / ``Proxy-Authorization`` header or credential cookie, no ``app`` — and sealed ``receive``,
``send`` and next ``app``, so that nothing it is handed leads back to the main application, its settings (the
admin token), its storage or the host. What it passes on reaches the next plugin sanitized again; what reaches the
core is the host's own scope with the plugin's changes to method, path, query string and headers, the request's own
credentials put back, and never a private path.

Whatever a plugin's middleware raises — any ``BaseException`` but the host's own cancellation — is that plugin's
failure: a 403 problem for ``PermissionDenied``, else a 502 problem naming it, recorded against it. Errors of the
core pass through every plugin middleware untouched and unblamed. (A plugin's routes answer for themselves: see
``PluginRoom``.)
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pixsim_hooks.fastapi._problems import plugin_failure
from pixsim_hooks.fastapi._scopes import (
    Credentials,
    SendTracker,
    host_cancelled,
    is_private,
    restored_headers,
    route_path,
    split_credentials,
    visible_scope,
)
from pixsim_hooks.fastapi._sealed import Sealed, reveal
from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import PermissionDenied

__all__ = ["ADMIN_PATHS", "ASGIApp", "PluginMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PATHS = ("/api/v1/admin", "/admin")
"""The private paths by default: the admin API and the admin page. Plugin middleware never runs on them."""
_CHANGEABLE = ("method", "path", "raw_path", "query_string")  # what of a plugin's scope reaches the core (+ headers)

# The request a plugin middleware's next app belongs to: the host's own scope and the credentials taken out of it,
# sealed. A context variable, so a middleware that builds a new scope (or calls on from a task) still reaches it.
_REQUEST: contextvars.ContextVar[Sealed] = contextvars.ContextVar("pixsim_plugin_middleware_request")


class PluginMiddleware:
    """Runs the plugins' ASGI middleware (see the module docstring).

    Installed when the app is created (Starlette freezes the middleware stack at the first call); the chain is built
    on the first request after a host is attached (``app.state.host``). ``private_paths`` are route paths (without
    the root path) never wrapped; ``credential_cookies`` are taken out of what plugin middleware sees.
    """

    def __init__(
        self, app: ASGIApp, *, private_paths: tuple[str, ...] = ADMIN_PATHS, credential_cookies: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self._private = tuple(private_paths)
        self._cookies = frozenset(credential_cookies)
        self._chain: ASGIApp | None = None
        self._built_for: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = getattr(scope["app"].state, "host", None) if scope["type"] == "http" else None
        if not isinstance(host, PluginHost) or is_private(route_path(scope), self._private):
            await self.app(scope, receive, send)
            return
        if self._built_for is not host:
            self._chain, self._built_for = self._build(host), host
        if self._chain is None:  # no plugin provides middleware
            await self.app(scope, receive, send)
            return
        headers, credentials = split_credentials(scope["headers"], self._cookies)
        token = _REQUEST.set(Sealed((scope, credentials)))
        try:
            await self._chain(visible_scope(scope, headers), receive, send)
        except _CoreError as carrier:
            raise carrier.original from None
        finally:
            _REQUEST.reset(token)

    def _build(self, host: PluginHost) -> ASGIApp | None:
        order = {pid: i for i, pid in enumerate(host.load_order)}
        factories = sorted(host.hook.provide_middleware.collect_sync(), key=lambda pair: order[pair[0]])
        chain: ASGIApp | None = None
        for plugin_id, factory in reversed(factories):  # wrap the last loaded first: the first ends outermost
            after = self._core_hop(plugin_id) if chain is None else self._plugin_hop(plugin_id, chain)
            try:
                middleware = factory(Sealed(after))
                if not callable(middleware):
                    raise TypeError(f"the middleware factory returned {type(middleware).__name__}, not an ASGI app")
            except BaseException as exc:  # plugin code: the factory, at start-up
                if host_cancelled(exc):
                    raise
                host.health.record_failure(plugin_id, "provide_middleware", Outcome.ERROR, exc)
                continue
            chain = _guarded(middleware, plugin_id, host)
        return chain

    def _plugin_hop(self, passing: str, next_plugin: ASGIApp) -> ASGIApp:
        """From ``passing``'s middleware to the next plugin's: sanitized again, with a fresh state of its own."""

        async def hop(scope: Scope, receive: Receive, send: Send) -> None:
            self._refuse_private(passing, scope)
            headers, _ = split_credentials(scope["headers"], self._cookies)
            await next_plugin(visible_scope(scope, headers), receive, send)

        return hop

    def _core_hop(self, passing: str) -> ASGIApp:
        """From the last plugin's middleware to the core: the host's own scope, with what a plugin may change."""

        async def hop(scope: Scope, receive: Receive, send: Send) -> None:
            original, credentials = _request()
            core = dict(original)
            core.update({key: scope[key] for key in _CHANGEABLE if key in scope})
            core["headers"] = restored_headers(scope["headers"], self._cookies, credentials)
            self._refuse_private(passing, core)
            try:
                await self.app(core, receive, send)
            except BaseException as exc:
                if host_cancelled(exc):
                    raise
                raise _CoreError(exc) from None

        return hop

    def _refuse_private(self, passing: str, scope: Scope) -> None:
        # A middleware may rewrite a request, but not into one of the paths it may never see.
        if is_private(route_path(scope), self._private):
            raise PermissionDenied(passing, None, "middleware", "route to a private path")


def _request() -> tuple[Scope, Credentials]:
    holder = _REQUEST.get(None)
    if holder is None:
        raise RuntimeError("a plugin middleware called its next app outside the request it was given")
    request: tuple[Scope, Credentials] = reveal(holder)
    return request


class _CoreError(Exception):
    """Carries what the core app raised through the plugins' middleware, so none of them is blamed for it."""

    def __init__(self, original: BaseException) -> None:
        self.original = original


def _guarded(middleware: ASGIApp, plugin_id: str, host: PluginHost) -> ASGIApp:
    async def plugin_middleware(scope: Scope, receive: Receive, send: Send) -> None:
        sent = SendTracker(send, receive, scope)
        try:
            await middleware(scope, Sealed(receive), Sealed(sent))
        except _CoreError:
            raise
        except BaseException as exc:
            if host_cancelled(exc):
                raise
            if sent.gone:
                return  # the client left mid-stream: nobody to answer, nothing the plugin did wrong
            response = plugin_failure(host, plugin_id, "middleware", exc)
            if sent.started:
                raise RuntimeError(f"plugin {plugin_id!r} middleware failed after its response started") from exc
            await response(scope, receive, send)
        finally:
            sent.close()

    return plugin_middleware

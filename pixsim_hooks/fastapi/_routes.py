"""Plugin routes: the context dependency, and each plugin's routers mounted as a room of their own.

:func:`mount_plugin_routers` gives each plugin a sub-application (:class:`~pixsim_hooks.fastapi._room.PluginApp`)
holding only its routes, mounted at ``/api/v1/plugins/<id>`` (admin routers at ``/api/v1/admin/plugins/<id>``,
behind the embedder's admin guard) through the host's :class:`~pixsim_hooks.fastapi._room.PluginRoom`; the main
app's OpenAPI schema lists the plugin routes with their full paths. :func:`get_plugin_context` answers only for the
plugin whose route is running: it reads the context the room put in the request's scope, and asking for another
plugin's is a ``PermissionDenied`` recorded against the plugin that asked.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Annotated, Any, cast

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.routing import APIRouter
from starlette.routing import BaseRoute, Mount

from pixsim_hooks.fastapi._forwarded import forwarding_router
from pixsim_hooks.fastapi._problems import PLUGIN_APP_HANDLERS
from pixsim_hooks.fastapi._room import CONTEXT_KEY, AdminGuard, PluginApp, PluginRoom
from pixsim_hooks.fastapi._scopes import host_cancelled
from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import PermissionDenied, PluginContext
from pixsim_hooks.runtime import ForwardedRoutes

__all__ = [
    "MAX_JSON_ID",
    "IdPath",
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "get_plugin_context",
    "host_of",
    "mount_plugin_routers",
    "plugin_of_path",
]

PLUGIN_API_PREFIX = "/api/v1/plugins"
PLUGIN_ADMIN_PREFIX = "/api/v1/admin/plugins"


MAX_JSON_ID = 2**53 - 1
"""The largest id the HTTP API takes or hands out: within what the database stores (``MAX_ID``, 2**63 - 1) and what
every JSON client reads exactly (a JavaScript number, and the float arithmetic of schema tools, lose integers past
2**53)."""
IdPath = Annotated[int, Path(ge=1, le=MAX_JSON_ID, description="A row id (1 to 2**53 - 1).")]
"""A path parameter naming a row (world, session, NPC...): bounded to :data:`MAX_JSON_ID`, so one past the bound is
the client's 422, not a failure of the route's plugin or an overflow in the database driver."""


def host_of(request: Request) -> PluginHost:
    """The host of the main application (for the embedder's own routes: a plugin's ``request.app`` has none)."""
    host = getattr(request.app.state, "host", None)
    if not isinstance(host, PluginHost):
        raise RuntimeError("no plugin host on app.state.host; build the app with a host in its lifespan")
    return host


def get_plugin_context(plugin_id: str) -> Callable[[Request], Awaitable[PluginContext]]:
    """A FastAPI dependency giving ``plugin_id``'s own context, in that plugin's own routes.

    The context is the one the host put in the request's scope for the plugin whose route is running; asked for
    another plugin's, the dependency raises ``PermissionDenied`` (a 403 problem), reported against the plugin that
    asked. Outside a plugin's routes it answers 404. The gates (plugin enabled, ``{world_id}`` enabled) ran on the
    host's side before any plugin code.
    """
    if type(plugin_id) is not str:  # exactly a str: a subclass's own __eq__ / __hash__ could say anything
        raise TypeError(f"a plugin id is a str, not {type(plugin_id).__name__}")
    return _context_dependency(plugin_id)


@functools.cache
def _context_dependency(plugin_id: str) -> Callable[[Request], Awaitable[PluginContext]]:
    # async on purpose: FastAPI runs a sync dependency in its threadpool, a thread hop on every request.
    async def plugin_context(request: Request) -> PluginContext:
        ctx = request.scope.get(CONTEXT_KEY)
        if ctx is None:
            raise HTTPException(404, f"plugin {plugin_id!r} is not enabled")
        if ctx.plugin_id != plugin_id:
            raise _denied(ctx, plugin_id)
        return cast(PluginContext, ctx)

    plugin_context.__name__ = f"plugin_context_{plugin_id.replace('-', '_')}"
    return plugin_context


def _denied(ctx: Any, asked: str) -> PermissionDenied:
    """The denial of ``ctx``'s plugin asking for ``asked``'s context, reported through that context's own denial
    channel (the host's health book, sealed inside the proxy): the dependency itself holds nothing of the host."""
    member = f"plugin_context({asked[:64]!r})"
    try:
        getattr(ctx, member)  # no context grants such a member: the proxy reports the denial and raises it
    except PermissionDenied as exc:
        return exc
    raise RuntimeError(f"the context of {ctx.plugin_id!r} granted {member}")  # a context is always a proxy


def mount_plugin_routers(
    app: FastAPI,
    host: PluginHost,
    *,
    admin_guard: AdminGuard | None = None,
    exception_handlers: Mapping[Any, Any] | None = None,
    credential_cookies: Iterable[str] = (),
) -> list[str]:
    """Mount every enabled plugin's router (and admin router, when ``admin_guard`` is given) as a room of its own.

    ``admin_guard`` runs on the host's side before a plugin's admin route (raise ``HTTPException`` to refuse).
    ``exception_handlers`` are the sub-applications' (default: problem responses for ``HTTPException`` and
    validation errors); plugin code can read them, so each must be a plain function: no closure, no bound method,
    no defaults. ``credential_cookies`` are taken out of the requests plugin routes see, as ``Authorization`` is.
    A plugin whose router cannot be mounted (not an ``APIRouter``, or anything raised while mounting it) is
    recorded and skipped. Returns the ids of the plugins whose (non-admin) router was mounted.
    """
    handlers = _plain_handlers(PLUGIN_APP_HANDLERS if exception_handlers is None else exception_handlers)
    cookies = frozenset(credential_cookies)
    mounted, documented = [], []
    for plugin_id, router in host.hook.provide_router.collect_sync():
        routes = _mount(app, host, plugin_id, router, "provide_router", None, handlers, cookies)
        if routes is not None:
            mounted.append(plugin_id)
            documented += routes
    if admin_guard is not None:
        for plugin_id, router in host.hook.provide_admin_router.collect_sync():
            hook = "provide_admin_router"
            documented += _mount(app, host, plugin_id, router, hook, admin_guard, handlers, cookies) or []
    _document(app, documented)
    app.openapi_schema = None  # plugin routes belong in the schema too
    return mounted


def _mount(
    app: FastAPI,
    host: PluginHost,
    plugin_id: str,
    router: Any,
    hook: str,
    guard: AdminGuard | None,
    handlers: Mapping[Any, Any],
    cookies: frozenset[str],
) -> list[BaseRoute] | None:
    """Mount one plugin's room; its routes for the schema, or None when it could not be mounted."""
    prefix = f"{PLUGIN_ADMIN_PREFIX if guard is not None else PLUGIN_API_PREFIX}/{plugin_id}"
    try:
        if type(router) is ForwardedRoutes and host.isolated(plugin_id) is not None:
            router = forwarding_router(router)  # a sandboxed plugin's: the host's forwarding routes, in its room
        # type(), not isinstance(): isinstance asks the object's own __class__, which plugin code may define
        if not issubclass(type(router), APIRouter):
            raise TypeError(f"{hook} returned {type(router).__name__}, not a fastapi.APIRouter")
        sub = PluginApp(router, handlers)
        room = PluginRoom(plugin_id, sub, guard=guard, handlers=handlers, cookies=cookies)
        documented = _documentation(router, prefix, plugin_id)
    except BaseException as exc:  # the router's own code ran in there (route classes, properties): its failure
        if host_cancelled(exc):
            raise
        host.health.record_failure(plugin_id, hook, Outcome.ERROR, exc)
        return None
    app.router.routes.append(Mount(prefix, app=room))
    return documented


def _documentation(router: APIRouter, prefix: str, plugin_id: str) -> list[BaseRoute]:
    """The plugin's routes with their full paths, for the main app's OpenAPI schema only. Included into a
    throwaway router: the main one would take the plugin router's lifespan and start-up handlers."""
    docs = APIRouter()
    docs.include_router(router, prefix=prefix, tags=[f"plugin:{plugin_id}"])
    return list(docs.routes)


def _document(app: FastAPI, routes: list[BaseRoute]) -> None:
    """List ``routes`` in the main app's OpenAPI schema, built by FastAPI itself (and by whatever wraps
    ``app.openapi``: the embedder's schema rules cover them as the core's own).

    They are among the app's routes only while the schema is built, a synchronous call, so no request ever sees
    them: the room serves them, the main router never matches them.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        serving = app.router.routes
        app.router.routes = [*serving, *routes]
        try:
            return build()
        finally:
            app.router.routes = serving

    app.openapi = openapi  # type: ignore[method-assign]


def _plain_handlers(handlers: Mapping[Any, Any]) -> dict[Any, Any]:
    """The handlers, each checked to hold nothing: plugin code reads them from ``request.app.exception_handlers``."""
    for key, handler in handlers.items():
        if key in (500, Exception):
            raise ValueError("a plugin sub-application has no 500 handler: what escapes is the plugin's 502")
        plain = isinstance(handler, types.FunctionType) and not handler.__closure__
        if not plain or handler.__defaults__ or handler.__kwdefaults__:
            raise TypeError(f"the handler for {key!r} must be a plain function (no closure, bound method, defaults)")
    return dict(handlers)


def plugin_of_path(path: str, host: PluginHost) -> str | None:
    """The plugin whose routes live at ``path`` (they are mounted only under the two plugin prefixes)."""
    for prefix in (PLUGIN_API_PREFIX, PLUGIN_ADMIN_PREFIX):
        if path.startswith(prefix + "/"):
            plugin_id = path[len(prefix) + 1 :].partition("/")[0]
            return plugin_id if plugin_id in host.load_order else None
    return None

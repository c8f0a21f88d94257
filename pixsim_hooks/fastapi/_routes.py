"""Plugin routes: the context dependency and the mounting of each plugin's routers under its own prefix.

:func:`get_plugin_context` — ``ctx = Depends(get_plugin_context("stealth"))`` in a plugin's route handler gives that
plugin's own context (404 when the plugin is not enabled). :func:`mount_plugin_routers` mounts each plugin's router
under ``/api/v1/plugins/<id>/`` (admin routers under ``/api/v1/admin/plugins/<id>/``, behind the admin guard). A path
carrying ``{world_id}`` answers 404 for a world that has not enabled the plugin.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRouter

from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import PluginContext, PluginNotEnabled, UnknownPluginError

__all__ = [
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "get_plugin_context",
    "host_of",
    "mount_plugin_routers",
    "plugin_of_path",
]

PLUGIN_API_PREFIX = "/api/v1/plugins"
PLUGIN_ADMIN_PREFIX = "/api/v1/admin/plugins"


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


def plugin_of_path(path: str, host: PluginHost) -> str | None:
    """The plugin whose routes live at ``path`` (they are mounted only under the two plugin prefixes)."""
    for prefix in (PLUGIN_API_PREFIX, PLUGIN_ADMIN_PREFIX):
        if path.startswith(prefix + "/"):
            plugin_id = path[len(prefix) + 1 :].partition("/")[0]
            return plugin_id if plugin_id in host.load_order else None
    return None

"""Route hooks: HTTP endpoints and ASGI middleware contributed by plugins, collected once at app start-up.

Routers are mounted under ``/api/v1/plugins/<plugin_id>/`` (admin routers under
``/api/v1/admin/plugins/<plugin_id>/``). Route handlers get their context with
``Depends(get_plugin_context("<plugin_id>"))``. An exception in a plugin route becomes a problem+json response
naming the plugin, never a core 5xx. A hookimpl that fails here is skipped: its router or middleware is not mounted
(recorded against the plugin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookspecs._markers import Fallback, contract, hookspec

if TYPE_CHECKING:
    from pixsim_hooks.plugin import PluginContext

__all__ = ["provide_admin_router", "provide_middleware", "provide_router"]


@hookspec
@contract(kind="route", permission="routes:register", fallback=Fallback.SKIP)
def provide_router(ctx: PluginContext) -> Any:
    """Return a ``fastapi.APIRouter`` (or None). Permission: ``routes:register``.

    A path that carries ``{world_id}`` answers 404 for worlds that have not enabled the plugin.
    """


@hookspec
@contract(kind="route", permission="admin:routes", fallback=Fallback.SKIP)
def provide_admin_router(ctx: PluginContext) -> Any:
    """Return a ``fastapi.APIRouter`` for admin-only endpoints (or None). Permission: ``admin:routes``.

    Mounted under the admin prefix and guarded by the admin token like the core admin API.
    """


@hookspec
@contract(kind="route", permission="middleware:http", fallback=Fallback.SKIP)
def provide_middleware(ctx: PluginContext) -> Any:
    """Return an ASGI middleware factory ``(app) -> app`` (or None). Permission: ``middleware:http``.

    Middleware wraps requests in plugin dependency order; an exception it raises becomes a problem response
    naming the plugin.
    """

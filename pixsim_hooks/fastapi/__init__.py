"""``pixsim_hooks.fastapi``: the plugin host in a FastAPI application (for embedders and plugin route authors).

Route plugins get a room, not the house (design decision 13):

- :func:`mount_plugin_routers` — each plugin's router in a FastAPI sub-application of its own, mounted at
  ``/api/v1/plugins/<id>`` (admin routers at ``/api/v1/admin/plugins/<id>``, behind the embedder's admin guard,
  which runs on the host's side); a sandboxed plugin's router stays in its child and its room holds forwarding
  routes of the shapes the child described (``_forwarded``). A plugin's ``request.app`` is that sub-application:
  an empty ``state``, only its own routes, ``dependency_overrides`` that reach nothing of the host, nothing that
  leads back to the host, its storage or its settings; its ``request.scope`` carries no host entry, no
  ``Authorization`` header and no credential cookie. A path carrying ``{world_id}`` answers 404 for a world that has
  not enabled the plugin, decided on the host's side before any plugin code runs. The main app's OpenAPI schema
  lists the plugin routes.
- :func:`get_plugin_context` — ``ctx: PluginContext = Depends(get_plugin_context("<plugin id>"))`` in a plugin's
  route handler gives that plugin's own context; asked for another plugin's it raises ``PermissionDenied`` (403),
  recorded against the plugin that asked.
- :class:`PluginMiddleware` — runs the plugins' ASGI middleware, never on the admin API or the admin page, and on
  other requests with a scope of its own (no credentials, no host entries, a ``state`` of its own).

Whatever plugin code raises in a route handler, a dependency or a middleware — any ``BaseException`` but the host's
own cancellation — is answered as that plugin's problem (``PermissionDenied`` → 403, else 502 naming the plugin),
recorded against it; the core's own errors are never blamed on a plugin. In-process, this stops mistakes, not
malice: ``gc``, frames and ``sys.modules`` still reach the host, which only a process boundary stops.

Imports the host, plugin and telemetry faces and FastAPI/Starlette; nothing below the host imports this.
"""

from __future__ import annotations

from pixsim_hooks.fastapi._middleware import ADMIN_PATHS, ASGIApp, PluginMiddleware
from pixsim_hooks.fastapi._problems import (
    PLUGIN_APP_HANDLERS,
    PROBLEM_MEDIA_TYPE,
    allowed_methods,
    plugin_failure,
    problem_json,
)
from pixsim_hooks.fastapi._room import AdminGuard
from pixsim_hooks.fastapi._routes import (
    MAX_JSON_ID,
    PLUGIN_ADMIN_PREFIX,
    PLUGIN_API_PREFIX,
    IdPath,
    get_plugin_context,
    host_of,
    mount_plugin_routers,
    plugin_of_path,
)

__all__ = [
    "ADMIN_PATHS",
    "ASGIApp",
    "AdminGuard",
    "IdPath",
    "MAX_JSON_ID",
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "PLUGIN_APP_HANDLERS",
    "PROBLEM_MEDIA_TYPE",
    "PluginMiddleware",
    "allowed_methods",
    "get_plugin_context",
    "host_of",
    "mount_plugin_routers",
    "plugin_failure",
    "plugin_of_path",
    "problem_json",
]

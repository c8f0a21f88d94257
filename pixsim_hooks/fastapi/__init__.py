"""``pixsim_hooks.fastapi``: the plugin host in a FastAPI application (for embedders and plugin route authors).

- :func:`get_plugin_context` — ``ctx: PluginContext = Depends(get_plugin_context("<plugin id>"))`` in a plugin's
  route handler gives that plugin's own context (404 when the plugin is not enabled, or for a ``{world_id}`` in the
  path whose world has not enabled it).
- :func:`mount_plugin_routers` — each plugin's router under ``/api/v1/plugins/<id>/``, admin routers under
  ``/api/v1/admin/plugins/<id>/`` behind the embedder's admin guard.
- :class:`PluginMiddleware` — installed when the app is created; runs the plugins' ASGI middleware and answers for
  what escapes a plugin's route: ``PermissionDenied`` as a 403 problem, anything else as a 502 problem naming the
  plugin, recorded against it; the core's own errors are never blamed on a plugin.

Imports the host wing and FastAPI; nothing below the host imports this.
"""

from __future__ import annotations

from pixsim_hooks.fastapi._middleware import ASGIApp, PluginMiddleware
from pixsim_hooks.fastapi._problems import PROBLEM_MEDIA_TYPE, plugin_failure, problem_json
from pixsim_hooks.fastapi._routes import (
    PLUGIN_ADMIN_PREFIX,
    PLUGIN_API_PREFIX,
    get_plugin_context,
    host_of,
    mount_plugin_routers,
    plugin_of_path,
)

__all__ = [
    "ASGIApp",
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "PROBLEM_MEDIA_TYPE",
    "PluginMiddleware",
    "get_plugin_context",
    "host_of",
    "mount_plugin_routers",
    "plugin_failure",
    "plugin_of_path",
    "problem_json",
]

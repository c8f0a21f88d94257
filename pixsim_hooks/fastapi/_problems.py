"""Problem responses (RFC 9457 ``application/problem+json``), and the one that answers for a failed plugin."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import PermissionDenied

__all__ = ["PROBLEM_MEDIA_TYPE", "plugin_failure", "problem_json"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_json(status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def plugin_failure(host: PluginHost, plugin_id: str, where: str, exc: Exception) -> JSONResponse:
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

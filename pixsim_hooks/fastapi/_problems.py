"""Problem responses (RFC 9457 ``application/problem+json``): the one that answers for a failed plugin, and the
default handlers of a plugin's sub-application.

The handlers given to a plugin's sub-application live where plugin code can read them
(``request.app.exception_handlers``), so they are plain module-level functions: no closure cell, no bound method,
nothing that leads back to the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request

from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import PermissionDenied

__all__ = ["PLUGIN_APP_HANDLERS", "PROBLEM_MEDIA_TYPE", "plugin_failure", "problem_json"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_json(status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def plugin_failure(host: PluginHost, plugin_id: str, where: str, exc: BaseException) -> JSONResponse:
    """Record ``exc`` against the plugin and answer for it: 403 naming the permission for ``PermissionDenied``,
    else 502 naming the plugin and only the type of what it raised (its message may hold anything)."""
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


async def _http_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = problem_json(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_json(422, "Unprocessable Content", detail, errors=errors)


PLUGIN_APP_HANDLERS: Mapping[Any, Any] = {HTTPException: _http_problem, RequestValidationError: _validation_problem}
"""The exception handlers of a plugin's sub-application when the embedder gives none: problem responses."""

"""Problem responses (RFC 9457 ``application/problem+json``): the one that answers for a failed plugin, and the
default handlers of a plugin's sub-application.

The handlers given to a plugin's sub-application live where plugin code can read them
(``request.app.exception_handlers``), so they are plain module-level functions: no closure cell, no bound method,
nothing that leads back to the host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Scope

from pixsim_hooks.fastapi._scopes import route_path, served_routes
from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import CoreError, PermissionDenied

__all__ = ["PLUGIN_APP_HANDLERS", "PROBLEM_MEDIA_TYPE", "allowed_methods", "plugin_failure", "problem_json"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
# One problem type per status, core and plugin routes alike (a more precise type is given where one exists).
_TYPES = {
    400: "urn:pixsim:problem:bad-request",
    401: "urn:pixsim:problem:unauthorized",
    403: "urn:pixsim:problem:forbidden",
    404: "urn:pixsim:problem:not-found",
    405: "urn:pixsim:problem:method-not-allowed",
    409: "urn:pixsim:problem:conflict",
    413: "urn:pixsim:problem:too-large",
    422: "urn:pixsim:problem:validation",
    500: "urn:pixsim:problem:internal",
    502: "urn:pixsim:problem:plugin-error",
    503: "urn:pixsim:problem:unavailable",
    504: "urn:pixsim:problem:timeout",
}


def problem_json(status: int, title: str, detail: str, *, type_: str | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response (``type_`` defaults to the status's problem type)."""
    body = {"type": type_ or _TYPES.get(status, "about:blank"), "title": title, "status": status, "detail": detail}
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at this request's path, for a 405's ``Allow`` (Starlette's router names only
    the first route that matched the path, not the others at the same path)."""
    methods: set[str] = set()
    path = route_path(scope)
    for route in served_routes(routes):
        regex = getattr(route, "path_regex", None)
        if isinstance(regex, re.Pattern) and regex.match(path) is not None:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def plugin_failure(host: PluginHost, plugin_id: str, where: str, exc: BaseException) -> JSONResponse:
    """Record ``exc`` against the plugin and answer for it: 403 naming the permission for ``PermissionDenied``,
    else 502 naming the plugin and only the type of what it raised (its message may hold anything).

    A :class:`CoreError` (the host's own code failed under the plugin's call) is the core's: a 500 logged with its
    cause as the core's error, nothing recorded against the plugin."""
    if type(exc) is CoreError:  # the core's: the host logs it as such and counts nothing against the plugin
        host.record_failure(plugin_id, where, Outcome.ERROR, exc)
        return problem_json(500, "Internal Server Error", "The server hit an unexpected error; it has been logged.")
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
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.app.router.routes, request.scope))
    return response


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_json(422, "Unprocessable Content", detail, errors=errors)


PLUGIN_APP_HANDLERS: Mapping[Any, Any] = {HTTPException: _http_problem, RequestValidationError: _validation_problem}
"""The exception handlers of a plugin's sub-application when the embedder gives none: problem responses."""

"""Errors as ``application/problem+json`` (RFC 9457), and the OpenAPI entries that document them.

Unexpected errors become a bare 500 problem: the message and traceback go to the log, never to the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pixsim_hooks.backend._api._schemas import Problem
from pixsim_hooks.fastapi import PLUGIN_API_PREFIX, PROBLEM_MEDIA_TYPE, allowed_methods, problem_json
from pixsim_hooks.plugin import ConfigError, NotFoundError, StaleWriteError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "QUARANTINED",
    "install_problem_handlers",
    "plugin_problem_handlers",
    "problem_response",
    "problems",
]

log = structlog.get_logger(__name__)

STALE_WRITE = "urn:pixsim:problem:stale-write"
QUARANTINED = "urn:pixsim:problem:plugin-quarantined"
CONFIG = "urn:pixsim:problem:invalid-config"
# RFC 9110's name for 422; Python before 3.13 still says "Unprocessable Entity".
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
_DESCRIPTIONS = {
    400: "The body is not what its Content-Type says (not UTF-8, not JSON).",
    401: "A valid admin bearer token is required.",
    403: "A plugin was denied a permission it does not hold.",
    404: "Not found.",
    409: "The session changed (the If-Match version is stale, or concurrent writers kept winning), or the plugin is "
    "quarantined and could not be loaded again.",
    413: "The body is larger than the server takes (PIXSIM_MAX_BODY_BYTES).",
    422: "Invalid request; ``errors`` names each field (``loc`` is its path).",
    500: "Unexpected error; the details are only in the server log.",
    502: "The plugin serving this route failed; ``plugin`` names it.",
    503: "The deployment's Redis cannot be reached right now; nothing was changed.",
}


def problem_response(status: int, detail: str, *, type_: str | None = None, **extra: Any) -> JSONResponse:
    """A core problem response: the title follows from the status, and the type too unless given."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    return problem_json(status, title, detail, type_=type_, **extra)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries documenting these problem statuses on a route (one schema: :class:`Problem`)."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def install_problem_handlers(app: FastAPI) -> None:
    for kind, handler in plugin_problem_handlers().items():
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = _problem_openapi(app)  # type: ignore[method-assign]


def plugin_problem_handlers() -> dict[Any, Any]:
    """The problem handlers short of the 500 one: the core's, and those of each plugin's sub-application (there,
    whatever else escapes is the plugin's 502). Plain module functions: plugin code can read them."""
    return {
        NotFoundError: _not_found,
        StaleWriteError: _stale_write,
        ConfigError: _bad_config,
        RequestValidationError: _invalid,
        StarletteHTTPException: _http_error,
    }


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(404, str(exc))


async def _stale_write(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(409, str(exc), type_=STALE_WRITE)


async def _bad_config(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    errors = [{"loc": json_path(exc.path), "msg": str(exc), "type": "config"}]
    return problem_response(422, str(exc), type_=CONFIG, errors=errors)


_STEP = re.compile(r'\.?([^.\[\]"]+)|\[([0-9]+)\]|\["([^"]*)"\]')


def json_path(path: str) -> list[str | int]:
    """``meta.behavior.activities[2]["a b"]`` as a ``loc``: ``["meta", "behavior", "activities", 2, "a b"]``."""
    loc: list[str | int] = []
    for name, index, quoted in _STEP.findall(path):
        loc.append(int(index) if index else (quoted if quoted or not name else name))
    return loc


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_response(422, detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem_response(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request.app.router.routes, request.scope))
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this response is sent, so the server logs the traceback; this line carries the
    # request for structured logs.
    log.error("unhandled error", method=request.method, path=request.url.path, error_type=type(exc).__name__)
    return problem_response(500, "The server hit an unexpected error; it has been logged.")


def _problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so every operation declares, as ``application/problem+json`` of the one
    :class:`Problem` schema, each error status it can answer: plugin routes and FastAPI's own 422 included."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in _problem_schemas().items():
                components.setdefault(name, definition)
            for path, item in schema.get("paths", {}).items():
                for operation in item.values():
                    _declare_problems(path, operation)
                    _absent_is_null(operation)
            for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, which we never send
                schema["components"]["schemas"].pop(unused, None)
        return app.openapi_schema or build()

    return openapi


def _problem_schemas() -> dict[str, Any]:
    """:class:`Problem` and what it refers to, as OpenAPI components (FastAPI lists them already when a core route
    declares a problem; an app of plugin routes alone would not)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "Problem": schema}


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _absent_is_null(operation: dict[str, Any]) -> None:
    """An optional header or query parameter (``str | None``) is documented as what is sent when it is sent: the
    non-null schema. There is no way to send null in a header but to leave it out, and "null" is no version."""
    for parameter in operation.get("parameters", ()):
        schema = parameter.get("schema", {})
        branches = schema.get("anyOf", ())
        if parameter.get("in") in ("header", "query") and not parameter.get("required"):
            kept = [b for b in branches if b.get("type") != "null"]
            if len(kept) == 1 and len(branches) == 2:
                parameter["schema"] = {**{k: v for k, v in schema.items() if k != "anyOf"}, **kept[0]}


def _declare_problems(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = {422, 500}
    if "requestBody" in operation:
        statuses |= {400, 413}
    if "{" in path:
        statuses.add(404)
    if path.startswith("/api/v1/admin"):
        statuses |= {401, 404}  # no valid token; the admin API switched off (no token configured)
    if path.startswith(PLUGIN_API_PREFIX + "/") or any(t.startswith("plugin:") for t in operation.get("tags", ())):
        statuses |= {403, 404, 502}  # a plugin route: a denied permission, not enabled (here), the plugin failed
    for status in statuses:
        responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
    for status, response in responses.items():
        if status[:1] in "45":
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            response.setdefault("description", _DESCRIPTIONS.get(int(status), HTTPStatus(int(status)).phrase))

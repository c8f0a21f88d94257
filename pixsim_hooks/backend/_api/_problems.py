"""Errors as ``application/problem+json`` (RFC 9457), and the OpenAPI entries that document them.

Unexpected errors become a bare 500 problem: the message and traceback go to the log, never to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pixsim_hooks.backend._api._schemas import Problem, ValidationProblem
from pixsim_hooks.fastapi import PROBLEM_MEDIA_TYPE, problem_json
from pixsim_hooks.plugin import ConfigError, NotFoundError, StaleWriteError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "install_problem_handlers",
    "plugin_problem_handlers",
    "problem_response",
    "problems",
]

log = structlog.get_logger(__name__)

_TYPES = {
    404: "urn:pixsim:problem:not-found",
    409: "urn:pixsim:problem:stale-write",
    422: "urn:pixsim:problem:validation",
    500: "urn:pixsim:problem:internal",
}
# RFC 9110's name for 422; Python before 3.13 still says "Unprocessable Entity".
_TITLES = {422: "Unprocessable Content"}
_DESCRIPTIONS = {
    404: "Not found (problem+json).",
    409: "The session changed: the If-Match version is stale, or concurrent writers kept winning.",
    422: "Invalid request; ``errors`` names each field.",
    500: "Unexpected error; the details are only in the server log.",
}


def problem_response(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A core problem response: the type and title follow from the status."""
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    return problem_json(status, title, detail, type_=_TYPES.get(status, "about:blank"), **extra)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries documenting these problem statuses on a route."""
    return {
        status: {
            "model": ValidationProblem if status == 422 else Problem,
            "description": _DESCRIPTIONS[status],
        }
        for status in statuses
    }


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
    return problem_response(409, str(exc))


async def _bad_config(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    return problem_response(422, str(exc), errors=[{"loc": exc.path.split("."), "msg": str(exc), "type": "config"}])


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_response(422, detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem_response(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this response is sent, so the server logs the traceback; this line carries the
    # request for structured logs.
    log.error("unhandled error", method=request.method, path=request.url.path, error_type=type(exc).__name__)
    return problem_response(500, "The server hit an unexpected error; it has been logged.")


def _problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so error responses are documented as ``application/problem+json``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    _problem_media_types(operation.get("responses", {}))
        return app.openapi_schema or build()

    return openapi


def _problem_media_types(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        content = response.get("content", {})
        if status[:1] in "45" and "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")

"""A sandboxed plugin's routes in its room: forwarding routes of the shapes its child described.

The child keeps the plugin's router; the host knows only each route's path pattern and methods
(:class:`~pixsim_hooks.runtime.ForwardedRoutes`). Each becomes a route of the host's own here, so the room's gates
(plugin enabled, admin guard, ``{world_id}``) and its routing (404, 405 with ``Allow``) work exactly as for an
in-process router, before anything is sent to the child. An admitted request goes to the child whole (method, path
within the room, query, the headers the room let through, body) under the plugin's deadline; what comes back was
checked by the runtime (``_results``) and is rendered here as an in-process route's would be: its response, or the
HTTP or validation error it raised as the room's problem response. A failure of the child (a crash, a missed
deadline, an error it raised, a denial) escapes to the room, which answers it as the plugin's 502 or 403.
"""

from __future__ import annotations

import base64
import inspect
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.routing import compile_path

from pixsim_hooks.fastapi._scopes import route_path
from pixsim_hooks.runtime import ROUTE_CONTEXT_KEY, ForwardedRoutes, OversizedMessage, RouteShape

__all__ = ["forwarding_router"]

# Set by the server for the response the host sends, never taken from the plugin's answer.
_HOST_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})


def forwarding_router(routes: ForwardedRoutes) -> APIRouter:
    """An ``APIRouter`` with one forwarding route per shape (raises if a shape does not compile: the plugin's)."""
    router = APIRouter()
    for shape in routes.shapes:
        endpoint = _endpoint(routes, shape)
        for method in shape.methods:  # a route per method: each gets an operation id of its own in the schema
            router.add_api_route(
                shape.path, endpoint, methods=[method], name=shape.name or None, response_class=Response
            )
    return router


def _endpoint(routes: ForwardedRoutes, shape: RouteShape) -> Any:
    _, _, convertors = compile_path(shape.path)

    async def forward(request: Request, **_path: Any) -> Response:
        body = await request.body()
        message = {
            "method": request.method,
            "path": route_path(request.scope),
            "query": request.scope.get("query_string", b"").decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
            "body": base64.b64encode(body).decode(),
        }
        try:
            answer = await routes.forward(message, request.scope.get(ROUTE_CONTEXT_KEY))
        except OversizedMessage:  # nothing was sent: the request is too big for the plugin's channel
            raise HTTPException(413, "The request is too large for this plugin.") from None
        if answer.kind == "http_error":
            raise HTTPException(answer.status, answer.detail, headers=dict(answer.headers) or None)
        if answer.kind == "validation_error":
            raise RequestValidationError(list(answer.errors))
        response = Response(content=answer.body, status_code=answer.status)
        own = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        length = [(k, v) for k, v in response.raw_headers if k == b"content-length"]
        response.raw_headers = [(k, v) for k, v in own if k.decode() not in _HOST_HEADERS] + length
        return response

    # The path parameters are declared (untyped: the child validates them) so the schema lists each one.
    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for name in convertors]
    forward.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    forward.__name__ = f"forward_{routes.plugin_id.replace('-', '_')}"
    return forward

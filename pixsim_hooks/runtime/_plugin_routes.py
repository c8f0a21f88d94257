"""The plugin's side of routes out of process: its routers, served inside its own process (a sandboxed child, or a
remote server).

The runner calls the plugin's ``provide_router`` / ``provide_admin_router`` with the plugin's ``ctx`` and
hands what they return to a :class:`RouteServer`. The host is told only the shape of each route (path pattern,
methods) and builds forwarding routes of its own from them, behind its own gates (enabled, admin guard,
``{world_id}``); each request it admits arrives here as one ``call`` item and is run through the plugin's router
as an ASGI request, with the plugin's ``ctx`` in the scope where ``get_plugin_context`` looks for it. The whole
response comes back as one answer (streaming is not forwarded).

What the router raises is not rendered here: an ``HTTPException`` or a validation error crosses as data and the
host renders it as the same problem response an in-process route gets; anything else crosses as the plugin's error
(a 502 naming the plugin, or a 403 for a denial). The host checks all of it (``_results``) before it is believed.

Imported (by the child's entry point or the remote server) only for a plugin that implements a route hook: a plugin
without routes never loads FastAPI (an import-linter contract keeps the runner and the protocol free of it).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import fastapi.routing
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.exceptions import HTTPException

from pixsim_hooks.runtime._protocol import ROUTE_CONTEXT_KEY

__all__ = ["RouteServer"]

_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_App = Callable[[MutableMapping[str, Any], _Receive, _Send], Awaitable[None]]


class RouteServer:
    """The routers one plugin provided, by the hook that provided each, and the requests the host forwards."""

    def __init__(self) -> None:
        self._apps: dict[str, _App] = {}

    def mount(self, hook: str, router: Any) -> list[dict[str, Any]]:
        """Keep ``router`` for ``hook``'s requests; the shapes of its HTTP routes, for the host (none for None)."""
        if router is None:
            self._apps.pop(hook, None)
            return []
        if not isinstance(router, APIRouter):
            raise TypeError(f"{hook} returned {type(router).__name__}, not a fastapi.APIRouter")
        # The exit stack FastAPI's request handlers expect (the host's sub-application has the same middleware).
        self._apps[hook] = AsyncExitStackMiddleware(router)
        return _shapes(router)

    async def handle(self, hook: str, request: dict[str, Any], ctx: Any) -> dict[str, Any]:
        """Run one forwarded request through ``hook``'s router; the response, or the HTTP error it raised."""
        app = self._apps.get(hook)
        if app is None:
            raise LookupError(f"this plugin provided no router through {hook}")
        method, path = str(request["method"]), str(request["path"])
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": str(request["query"]).encode("latin-1"),
            "headers": [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in request["headers"]],
            "client": None,
            "server": None,
            "state": {},
            # No handlers here: what the router raises comes out to be carried to the host and rendered there.
            "starlette.exception_handlers": ({}, {}),
            ROUTE_CONTEXT_KEY: ctx,
        }
        body = base64.b64decode(str(request["body"]))
        answer = _Answer()

        async def receive() -> MutableMapping[str, Any]:
            if answer.body_sent:
                return {"type": "http.disconnect"}
            answer.body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            await app(scope, receive, answer.send)
        except HTTPException as exc:
            headers = [[str(k), str(v)] for k, v in (exc.headers or {}).items()]
            return {"kind": "http_error", "status": exc.status_code, "detail": str(exc.detail), "headers": headers}
        except RequestValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": str(e["msg"]), "type": str(e["type"])} for e in exc.errors()]
            return {"kind": "validation_error", "errors": jsonable_encoder(errors)}
        return answer.result()


class _Answer:
    """The response the router sends, collected whole."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[list[str]] = []
        self.chunks: list[bytes] = []
        self.body_sent = False

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    def result(self) -> dict[str, Any]:
        if self.status is None:
            raise RuntimeError("the route sent no response")
        body = base64.b64encode(b"".join(self.chunks)).decode()
        return {"kind": "response", "status": self.status, "headers": self.headers, "body": body}


def _shapes(router: APIRouter) -> list[dict[str, Any]]:
    """Path pattern and methods of each HTTP route the router serves (included routers flattened, as served)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPIs that include routers lazily
    routes = flatten(list(router.routes)) if flatten is not None else router.routes
    shapes = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:  # HTTP routes; websocket routes and mounts are not forwarded
            shapes.append(
                {
                    "path": path,
                    "methods": sorted(str(m) for m in methods),
                    "name": str(getattr(route, "name", "") or ""),
                }
            )
    return shapes

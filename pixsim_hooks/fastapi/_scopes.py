"""The scopes and the ``send`` plugin code is handed: what of a request it may see, and how the host's own entries
are kept back.

An ASGI scope, as the main application passes it on, is the house: ``scope["app"]`` is the application (its
``state`` holds the settings with the admin token, the storage and the host), ``scope["router"]`` its router,
``scope["state"]`` the request state its other middleware share, and the headers carry the operator's credentials.
Plugin code gets a scope built from an allowlist instead (:data:`VISIBLE`), with a fresh ``state`` of its own and
without the credential headers (:data:`CREDENTIAL_HEADERS`) or the embedder's credential cookies.

Its ``asgi.spec_version`` is at least 2.4: under 2.3 (uvicorn's) Starlette streams a response body from a task of
its own, and a ``SystemExit`` or ``KeyboardInterrupt`` a plugin's body iterator raises there is re-raised by
asyncio's task machinery into the event loop, stopping the server. Under 2.4 it streams in the request's own task,
where the host contains it. What 2.4 promises in return — ``send`` raises ``OSError`` once the client is gone — the
:class:`SendTracker` provides where the server does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

import fastapi.routing

__all__ = [
    "CREDENTIAL_HEADERS",
    "served_routes",
    "Credentials",
    "Headers",
    "SendTracker",
    "VISIBLE",
    "host_cancelled",
    "is_private",
    "restored_headers",
    "route_path",
    "split_credentials",
    "visible_scope",
]

Headers = list[tuple[bytes, bytes]]
Credentials = tuple[Headers, list[bytes]]  # credential headers, credential cookie pairs (b"name=value")

# What of a request plugin code may see. Everything else in a scope is the host's or its server's (app, router,
# state, extensions, the keys other middleware add: user, session, auth, ...).
VISIBLE = (
    "type",
    "asgi",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "query_string",
    "root_path",
    "client",
    "server",
)
CREDENTIAL_HEADERS = frozenset({b"authorization", b"proxy-authorization"})


def visible_scope(scope: MutableMapping[str, Any], headers: Headers) -> dict[str, Any]:
    """The allowlisted entries of ``scope`` with ``headers`` and a fresh ``state`` (no other room's state)."""
    child = {key: scope[key] for key in VISIBLE if key in scope}
    asgi = dict(scope.get("asgi") or {})  # a copy: a plugin writing to the server's own would write to everyone's
    if _spec(scope) < (2, 4):
        asgi["spec_version"] = "2.4"  # see the module docstring
    child["asgi"] = asgi
    child["headers"] = headers
    child["state"] = {}
    return child


def split_credentials(headers: Iterable[tuple[bytes, bytes]], cookies: frozenset[str]) -> tuple[Headers, Credentials]:
    """``headers`` without the credential headers and cookies, and the credentials taken out of them.

    A cookie is named the way Starlette's ``request.cookies`` names it (the text before the first ``=``, stripped),
    so anything the embedder would accept as its credential cookie is taken out; the other cookies stay.
    """
    visible: Headers = []
    taken: Headers = []
    pairs: list[bytes] = []
    for name, value in headers:
        lowered = bytes(name).lower()
        if lowered in CREDENTIAL_HEADERS:
            taken.append((lowered, bytes(value)))
        elif lowered == b"cookie" and cookies:
            kept = _without_cookies(bytes(value), cookies, pairs)
            if kept:
                visible.append((lowered, kept))
        else:
            visible.append((lowered, bytes(value)))
    return visible, (taken, pairs)


def _without_cookies(value: bytes, cookies: frozenset[str], taken: list[bytes]) -> bytes:
    kept: list[bytes] = []
    for chunk in value.split(b";"):
        name = chunk.split(b"=", 1)[0].strip() if b"=" in chunk else b""
        (taken if name.decode("latin-1") in cookies else kept).append(chunk.strip())
    return b"; ".join(chunk for chunk in kept if chunk)


def restored_headers(headers: Iterable[tuple[bytes, bytes]], cookies: frozenset[str], original: Credentials) -> Headers:
    """The headers a plugin middleware passed on, with the request's own credentials back in their place.

    Whatever the plugin put there as a credential is dropped: it may change the request, never who is asking.
    """
    visible, _ = split_credentials(headers, cookies)
    taken, pairs = original
    if pairs:
        at = next((i for i, (name, _) in enumerate(visible) if name == b"cookie"), None)
        if at is None:
            visible.append((b"cookie", b"; ".join(pairs)))
        else:  # Starlette reads only the first Cookie header: the credentials go into that one
            visible[at] = (b"cookie", b"; ".join([visible[at][1], *pairs]))
    return [*visible, *taken]


def served_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Each route as the router serves it: FastAPIs that include routers lazily keep them nested, so they are
    flattened into their effective routes (full path regex, methods, converters as served)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return iter(flatten(list(routes)) if flatten is not None else routes)


def route_path(scope: MutableMapping[str, Any]) -> str:
    """The path the router matches: the path without the root path (Starlette's own rule, so that a private-path
    check and the routing always agree on where a request goes)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def is_private(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def host_cancelled(exc: BaseException) -> bool:
    """True when ``exc`` is the host's own cancellation of the running task (a client gone, a shutdown), which
    must propagate; a ``CancelledError`` a plugin raises by itself, with nobody cancelling, is its failure."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _spec(scope: MutableMapping[str, Any]) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in str(scope.get("asgi", {}).get("spec_version", "2.0")).split("."))
    except (AttributeError, ValueError):
        return (2, 0)


class SendTracker:
    """The ``send`` handed on to plugin code (sealed): knows whether a response has started (after that no problem
    response can be sent) and its status, and keeps spec 2.4's promise on a server older than that.

    Once a response streams (a body message with ``more_body``) on such a server, a watcher task of the host's reads
    ``receive`` for the client's disconnect; from then on ``send`` raises ``OSError``, as 2.4 says, so a stream that
    never ends (server-sent events) stops when nobody listens. The watcher contains everything it meets: its
    ``receive`` may be a plugin middleware's, and nothing raised in a task may reach the event loop.
    """

    __slots__ = ("_receive", "_send", "_watcher", "gone", "started", "status")

    # ``gone``: the client disconnected. What plugin code raises after that (Starlette's ClientDisconnect, say) is
    # the end of a response nobody reads, not the plugin's failure.

    def __init__(
        self,
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        scope: MutableMapping[str, Any],
    ) -> None:
        self._send = send
        self._receive = receive if _spec(scope) < (2, 4) else None  # a 2.4 server raises OSError by itself
        self._watcher: asyncio.Task[None] | None = None
        self.gone = False
        self.started = False
        self.status = 500  # until a response starts: what the server will answer if nothing does

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if self.gone:
            raise OSError("the client has disconnected")
        kind = message["type"]
        if kind == "http.response.start":
            self.started, self.status = True, message["status"]
        elif kind == "http.response.body" and message.get("more_body") and self._watcher is None and self._receive:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        try:
            await self._send(message)
        except OSError:  # a 2.4 server's word that the client is gone
            self.gone = True
            raise

    async def _watch(self) -> None:
        assert self._receive is not None
        try:
            while (await self._receive())["type"] != "http.disconnect":
                pass
        except BaseException:  # our own task, which we alone cancel: nothing it meets may reach the event loop
            pass
        self.gone = True

    def close(self) -> None:
        """End the watcher, if one runs (the request is over)."""
        if self._watcher is not None:
            self._watcher.cancel()

"""A cap on request bodies: larger ones are answered 413 (problem JSON) before any route, core or plugin, reads them.

A ``Content-Length`` over the cap is refused at once. A body without one (chunked) is read here up to the cap and
handed on whole, so what the routes read is never more than the cap and a body that turns out too big is still
answered 413, not cut off in the middle of a handler.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixsim_hooks.backend._api._problems import problem_response

__all__ = ["BodyLimit"]


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)  # the server holds the body to its Content-Length
            return
        body, more, messages = bytearray(), True, []
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it as it would
                messages.append(message)
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body)}, *messages], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes} bytes"
        response = problem_response(413, detail)
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the server refuses a malformed one before us
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed

"""Serving a plugin over HTTP (``kind: remote``): :func:`serve_plugin` turns a plugin module or object into an
ASGI app that speaks protocol v1 to a PixSim host, one signed POST per message (see :mod:`pixsim_hooks.runtime._signing`
for the signatures).

The plugin's hookimpls run unchanged, on one worker thread, behind a :class:`.PluginRunner`;
the event loop only checks requests and hands messages over. A request reaches the plugin only when its
signature is right, its timestamp is within ``max_skew_s`` of this clock, it was signed for this server's session
and its request id was not seen before; otherwise it is answered 401 (413 when too big, 400 when not a protocol
message, 409 when it belongs to another session or a call comes before a grant: the host must greet this process
again).

The session is what makes replay protection survive a restart. The request ids seen are kept in memory, so a
restarted server has forgotten them, and a conversation recorded from its previous life would pass every other
check within the skew window. So the server picks a random session when it starts, names it in every 409, and
takes only requests signed for it: a recorded request is signed for a session that no longer exists. Even a
replayed ``hello`` is refused (the host's own first ``hello`` is answered 409 too, and sent again in the session).

Messages are handled one at a time: the protocol is a conversation (a call may be answered with capability requests
the host answers in turn). Answers travel back to the waiting request through the event loop, numbered: the late
answer of a call the host gave up on is dropped, never taken for the answer to the next message.

Run one process per endpoint (the conversation lives in it): ``python -m pixsim_hooks.serve`` (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import queue
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive

from pixsim_hooks.plugin import ProtocolError
from pixsim_hooks.runtime._protocol import (
    MAX_MESSAGE_BYTES,
    Grant,
    Hello,
    Ping,
    Shutdown,
    dumps,
    error_info,
    loads,
    parse_host_message,
)
from pixsim_hooks.runtime._runner import PluginRunner
from pixsim_hooks.runtime._signing import (
    REQUEST_ID_HEADER,
    SESSION,
    SESSION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
    sign_response,
)

__all__ = ["serve_plugin"]

_log = structlog.get_logger("pixsim_hooks.remote_server")
ANSWER_TIMEOUT_S = 30.0
"""How long a request waits for the plugin's answer (the host usually gives up sooner and disconnects)."""
REPLAY_CAPACITY = 100_000
"""Request ids remembered at most; when full of live ids, new requests are refused (fail closed), not forgotten."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_REQUEST_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_HANDSHAKE = (Hello, Grant, Ping, Shutdown)  # what may come before a grant (anything else: 409, greet me again)
_Inbound = tuple[int, dict[str, Any]]


def serve_plugin(
    plugin: object,
    *,
    secret: str | bytes,
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_skew_s: float = 30.0,
    answer_timeout_s: float = ANSWER_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """An ASGI app serving ``plugin`` (a module, class or object with a ``manifest`` and hookimpls) to PixSim
    hosts at ``POST /``. ``secret`` is the HMAC secret the operator sets in the plugin's ``secret_setting``;
    ``clock`` is the wall clock request timestamps are checked against (Unix seconds; tests give their own)."""
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("serve_plugin needs a non-empty secret")
    if max_skew_s <= 0 or answer_timeout_s <= 0 or max_bytes <= 0:
        raise ValueError("max_bytes, max_skew_s and answer_timeout_s must be positive")
    server = _PluginServer(
        plugin, key, max_bytes=max_bytes, max_skew_s=max_skew_s, answer_timeout_s=answer_timeout_s, clock=clock
    )
    app = Starlette(routes=[Route("/", server.handle, methods=["POST"])], lifespan=server.lifespan)
    app.state.plugin_server = server
    return app


# -- the plugin's end of the conversation (worker thread) ----------------------------------------------------------
class _ThreadChannel:
    """The runner's blocking channel. Messages come in numbered; each answer goes out with the number of the
    message it answers, so an answer nobody waits for any more (the host gave up) is never taken for the next.

    When the host gives up on a call while the plugin waits for a capability answer, the next host message is not
    that answer: the plugin's capability call raises, the abandoned call's answer is dropped, and the message is
    kept for the runner's next read."""

    def __init__(self, deliver: Callable[[int, dict[str, Any]], None]) -> None:
        self.inbox: queue.Queue[_Inbound | None] = queue.Queue()
        self._deliver = deliver
        self._seq = 0
        self._awaiting_cap = False
        self._pushback: _Inbound | None = None
        self._abandoned = False
        self._closed = False

    def recv(self) -> dict[str, Any]:
        if self._closed:  # stop() arrived while plugin code waited (and swallowed the EOFError): end for good
            raise EOFError
        if self._abandoned:
            raise ProtocolError("the host gave up on this call")
        item, self._pushback = self._pushback or self.inbox.get(), None
        if item is None:
            self._closed = True
            raise EOFError
        if self._awaiting_cap and item[1].get("type") != "cap_result":
            self._pushback, self._abandoned, self._awaiting_cap = item, True, False
            raise ProtocolError("the host gave up on this call")
        self._seq, self._awaiting_cap = item[0], False
        return item[1]

    def send(self, message: dict[str, Any]) -> None:
        if self._abandoned:  # part of the abandoned call: dropped; its final answer ends it
            self._abandoned = message.get("type") == "cap"
            return
        self._awaiting_cap = message.get("type") == "cap"
        self._deliver(self._seq, message)


def _work(runner: PluginRunner, channel: _ThreadChannel) -> None:
    """The worker thread: one answer per host message until the server stops (a host's shutdown only says bye:
    other hosts, or this one after a re-enable, may still talk to the plugin)."""
    try:
        while True:
            try:
                message = parse_host_message(channel.recv())
            except EOFError:
                return
            try:
                answer = runner.answer(message)
            except Exception as exc:
                answer = {"type": "error", "id": message.id, "error": error_info(exc)}
            channel.send(answer)
    finally:
        runner.loop.close()


# -- request checks ------------------------------------------------------------------------------------------------
class _SeenIds:
    """Request ids seen lately, each kept for as long as a request carrying it could still pass the timestamp check.

    A request is accepted at ``now`` only if its timestamp ``t`` is within ``skew`` of ``now``, so ``t <= now + skew``
    (a host clock ahead of ours); a replay of it passes the timestamp check for as long as ``now' <= t + skew``,
    that is at most until ``now + 2 * skew``. So ``keep_s`` is ``2 * skew`` and an id is forgotten only once that
    moment has *passed* (``expiry < now'``): at ``now' == expiry`` the replay's timestamp is still exactly ``skew``
    away, which the check accepts."""

    def __init__(self, keep_s: float, capacity: int = REPLAY_CAPACITY) -> None:
        self._keep_s = keep_s
        self._capacity = capacity
        self._expiry: OrderedDict[str, float] = OrderedDict()  # insertion order is expiry order

    def add(self, request_id: str, now: float) -> str | None:
        """Remember ``request_id``; why not, when it cannot be (a replay, or too many live ids)."""
        while self._expiry and next(iter(self._expiry.values())) < now:  # strictly: see the class docstring
            self._expiry.popitem(last=False)
        if request_id in self._expiry:
            return "replayed request id"
        if len(self._expiry) >= self._capacity:
            return "too many recent requests"
        self._expiry[request_id] = now + self._keep_s
        return None


def _authentic(secret: bytes, headers: Mapping[str, str], body: bytes, now: float, max_skew_s: float) -> str | None:
    """Why the request is not from a host holding the secret, or None. The replay check comes after (only
    authentic ids are remembered: a flood of forged ones cannot fill the memory)."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    request_id = headers.get(REQUEST_ID_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    session = headers.get(SESSION_HEADER, "")  # absent: the host does not know this server's session yet
    # fullmatch: "$" alone would also match before a trailing newline
    if not (_TIMESTAMP.fullmatch(timestamp) and _REQUEST_ID.fullmatch(request_id) and _SIGNATURE.fullmatch(signature)):
        return "missing or malformed signature headers"
    if session and SESSION.fullmatch(session) is None:
        return "missing or malformed signature headers"
    if abs(now - int(timestamp)) > max_skew_s:
        return "stale timestamp"
    expected = sign_request(secret, timestamp, request_id, session, body)
    if not hmac.compare_digest(signature.encode(), expected.encode()):  # both checked to be hex above
        return "bad signature"
    return None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is larger than ``limit`` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, title: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"status": status, "title": title}, status_code=status, media_type="application/problem+json", headers=headers
    )


async def _disconnected(receive: Receive) -> None:
    """Return when the client goes away (the body is read: the next ASGI message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


# -- the server ----------------------------------------------------------------------------------------------------
class _PluginServer:
    """One plugin, its runner thread, and the checks in front of it."""

    def __init__(
        self,
        plugin: object,
        secret: bytes,
        *,
        max_bytes: int,
        max_skew_s: float,
        answer_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.max_bytes = max_bytes
        self.max_skew_s = max_skew_s
        self.answer_timeout_s = answer_timeout_s
        self.clock = clock
        self.session = secrets.token_hex(16)  # this process's: a restarted server has another
        self.channel = _ThreadChannel(self._deliver_threadsafe)
        self.runner = PluginRunner(plugin, self.channel)  # here, not lazily: a bad manifest fails at startup
        if self.runner.serves_routes:
            # Only a plugin that serves routes loads FastAPI (it imported it for its router anyway).
            from pixsim_hooks.runtime._plugin_routes import RouteServer

            self.runner.routes = RouteServer()
        self.seen = _SeenIds(keep_s=2 * max_skew_s)
        self.delivered = 0  # messages handed to the plugin (tests: refused requests never are)
        self._seq = 0
        self._waiting: tuple[int, asyncio.Future[dict[str, Any]]] | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        self._start()
        _log.info("remote plugin served", plugin_id=self.runner.manifest.id, hooks=self.runner.hooks)
        try:
            yield
        finally:
            self.stop()

    def _start(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            name = f"pixsim-plugin-{self.runner.manifest.id}"
            self._thread = threading.Thread(target=_work, args=(self.runner, self.channel), name=name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Let the worker thread end after what it is doing (it is a daemon: a stuck plugin cannot hold exit)."""
        if self._thread is None:
            self.runner.loop.close()
        self.channel.inbox.put(None)

    # -- a request ---------------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        body = await _read_body(request, self.max_bytes)
        if body is None:
            return _problem(413, f"message over the {self.max_bytes}-byte cap")
        now = self.clock()
        refusal = _authentic(self.secret, request.headers, body, now, self.max_skew_s)
        if refusal is None and request.headers.get(SESSION_HEADER, "") != self.session:
            # Signed for no session or another one: a host that has not learned this one yet, or a conversation
            # recorded from an earlier process of this server. Never delivered (not even a hello); the 409 names
            # the session, and a host holding the secret greets this process again in it.
            return self._lost("not this server's session: say hello again in its session")
        refusal = refusal or self.seen.add(request.headers[REQUEST_ID_HEADER], now)
        if refusal is not None:
            _log.warning("remote plugin request refused", reason=refusal, client=_client(request))
            return _problem(401, refusal)
        try:
            data = loads(body, max_bytes=self.max_bytes)
            message = parse_host_message(data)
        except ProtocolError as exc:
            return _problem(400, str(exc)[:300])
        async with self._lock:
            if self.runner.ctx is None and not isinstance(message, _HANDSHAKE):
                return self._lost("no grant yet: say hello again")
            answer = await self._converse(request, data)
        if answer is None:
            return _problem(504, "the plugin did not answer in time")
        raw = dumps(answer)
        signature = sign_response(self.secret, request.headers[REQUEST_ID_HEADER], raw)
        return Response(raw, media_type="application/json", headers={SIGNATURE_HEADER: signature})

    def _lost(self, title: str) -> JSONResponse:
        """409: this server does not hold the host's conversation; the session it must greet it in goes along
        (unsigned, like every refusal: a forged one can only make the host greet again)."""
        return _problem(409, title, {SESSION_HEADER: self.session})

    async def _converse(self, request: Request, data: dict[str, Any]) -> dict[str, Any] | None:
        """Hand one message to the plugin and wait for its answer, until it comes, the client leaves or time's up."""
        self._start()
        self._seq += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting = (self._seq, future)
        self.channel.inbox.put((self._seq, data))
        self.delivered += 1
        gone: asyncio.Future[None] = asyncio.ensure_future(_disconnected(request.receive))
        either: set[asyncio.Future[Any]] = {future, gone}
        try:
            await asyncio.wait(either, timeout=self.answer_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            self._waiting = None
        return future.result() if future.done() else None

    def _deliver_threadsafe(self, seq: int, message: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
                loop.call_soon_threadsafe(self._deliver, seq, message)

    def _deliver(self, seq: int, message: dict[str, Any]) -> None:
        waiting = self._waiting
        if waiting is not None and waiting[0] == seq and not waiting[1].done():
            waiting[1].set_result(message)
        else:
            _log.debug("late plugin answer dropped", seq=seq, message_type=message.get("type"))


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client is not None else "?"

"""Remote plugins (``kind: remote``): a real uvicorn server on 127.0.0.1 serving small plugins with
``serve_plugin``, and a real host reaching them through ``RemoteTransport`` (signed POSTs over a socket)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from contrib_plugins import remote_example
from pixsim_hooks import NpcSnapshot, NpcView, PluginManifest, RemoteRuntime, SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import PluginHost, PluginState, Settings, create_host
from pixsim_hooks.plugin import ExtensionKind, PluginCrashed, ProtocolError, Storage
from pixsim_hooks.runtime import RemotePlugin, State, serve_plugin
from pixsim_hooks.runtime._protocol import dumps
from pixsim_hooks.runtime._remote import RemoteTransport
from pixsim_hooks.runtime._remote_server import _SeenIds, _ThreadChannel
from pixsim_hooks.serve import main
from tests.servers import ServedApp

SECRET_SETTING = "PIXSIM_TEST_REMOTE_SECRET"
SECRET = "correct horse battery staple"
EXTEND = ["behavior:extend_conditions", "behavior:extend_scoring", "behavior:configure_simulation", "event:subscribe"]


class Served:
    """A small plugin run behind ``serve_plugin``: conditions, a scoring factor, an event handler.

    The ``slow`` condition, and with ``hold_events`` the event handler, are held until the test sets ``release``
    (so a test can act while the remote is busy, instead of guessing how long it will be): ``entered`` is set when
    a held call starts, ``finished`` when it ends."""

    def __init__(self, plugin_id: str = "alpha", *, hold_events: bool = False) -> None:
        self.manifest = PluginManifest(id=plugin_id, name="Served", version="1.0.0")
        self.hold_events = hold_events
        self.events: list[int] = []
        self.release, self.entered, self.finished = threading.Event(), threading.Event(), threading.Event()

    def _held(self) -> None:
        self.entered.set()
        self.release.wait(30)  # a bound only for a test that fails before it releases (tests release in `finally`)
        self.finished.set()

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("raining", self.raining)
        ctx.behavior.register_condition_evaluator("happy", self.happy)
        ctx.behavior.register_condition_evaluator("slow", self.slow)
        ctx.behavior.register_scoring_factor("bonus", self.bonus)

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        if self.hold_events:
            self._held()
        self.events.append(event.session.id)

    def raining(self, ctx: Any, params: Any, view: NpcView) -> bool:
        return view.world_meta.get("weather") == "rain"

    async def happy(self, ctx: Any, params: Any, view: NpcView) -> bool:
        return await ctx.session.get_flag(view.session.id, "mood") == "happy"  # a capability request to the host

    def slow(self, ctx: Any, params: Any, view: NpcView) -> bool:
        self._held()
        return True

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        return {"pad": "x" * world_id}  # as big as the caller asks: the answer's size is the test's

    def bonus(self, ctx: Any, params: Any, view: NpcView) -> float:
        return 1.5


class Meddler:
    """ASGI wrapper around a served plugin, standing on the path between host and remote: answers 503 to the next
    ``fail`` POSTs whose body contains ``match``; on the answers to calls, replaces the signature while ``tamper``
    is set, removes it while ``strip`` is set, and while ``replay`` is set sends the last answer to an earlier call
    (with its own signature) instead of asking the plugin; with ``chunked`` sends answers without a Content-Length
    (the transport must count as it reads). ``requests`` records every request as (body, headers), for replays."""

    def __init__(self, app: Any, *, chunked: bool = False) -> None:
        self.app = app
        self.fail, self.match, self.failed, self.tamper, self.chunked = 0, b"", 0, False, chunked
        self.strip = self.replay = False
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self._call_answers: list[list[Any]] = []  # the ASGI messages of each answer to a call

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.requests.append((body, {k.decode(): v.decode() for k, v in scope["headers"]}))
        if self.fail and self.match in body:
            self.fail, self.failed = self.fail - 1, self.failed + 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            return await send({"type": "http.response.body", "body": b"busy"})
        is_call = b'"type":"call"' in body
        if is_call and self.replay and self._call_answers:
            for message in self._call_answers[-1]:
                await send(message)
            return None
        recorded: list[Any] = []
        if is_call:
            self._call_answers.append(recorded)
        replay = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive_again() -> Any:
            return replay.pop() if replay else await receive()

        async def send_meddled(message: Any) -> None:
            if self.chunked and message["type"] == "http.response.start":  # no length: the server sends it chunked
                message["headers"] = [(k, v) for k, v in message["headers"] if k != b"content-length"]
            if is_call and message["type"] == "http.response.start":
                headers = [
                    (k, b"0" * 64 if k == b"x-pixsim-signature" and self.tamper else v) for k, v in message["headers"]
                ]
                message["headers"] = [(k, v) for k, v in headers if not (self.strip and k == b"x-pixsim-signature")]
            recorded.append(message)
            await send(message)

        return await self.app(scope, receive_again, send_meddled)


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(app)`` → the URL of a real uvicorn server on a free port, stopped after the test."""
    servers: list[ServedApp] = []

    def start(app: Any) -> str:
        servers.append(ServedApp(app))
        return servers[-1].url

    yield start
    for served in servers:
        served.stop()


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_SETTING, SECRET)


def descriptor(url: str, plugin_id: str = "alpha", permissions: list[str] = EXTEND, **remote: Any) -> RemotePlugin:
    """The operator's configuration of a remote plugin (its identity)."""
    manifest = {
        "id": plugin_id,
        "name": "Remote test plugin",
        "version": "1.0.0",
        "kind": "remote",
        "isolation": "remote",
        "trust": "community",
        "permissions": permissions,
        "remote": {"endpoint": url, "secret_setting": SECRET_SETTING, "timeout_ms": 1000, **remote},
    }
    return RemotePlugin(manifest)


LoadHost = Callable[..., Any]


@pytest.fixture
async def load_host() -> AsyncIterator[LoadHost]:
    """``await load_host(descriptor, storage=..., **settings)`` → a loaded host, shut down after the test."""
    hosts: list[PluginHost] = []

    async def load(*plugins: object, storage: Storage | None = None, **settings: Any) -> PluginHost:
        host = create_host(Settings(**settings), storage=storage, plugins=plugins, entry_points=[])
        hosts.append(host)
        await host.load()
        return host

    yield load
    for host in hosts:
        await host.shutdown()


def view(world_meta: dict[str, Any] | None = None, session_id: int = 1) -> NpcView:
    session = SessionSnapshot(id=session_id, world_id=1, world_time=0.0, version=1)
    npc = NpcSnapshot(id=7, world_id=1, name="Ada")
    return NpcView(1, npc, session, world_meta or {}, {}, {}, 0.0, "morning")


async def condition(host: PluginHost, name: str, params: dict[str, Any] | None = None, **view_args: Any) -> Any:
    entry = host.behavior.get(ExtensionKind.CONDITION, f"plugin:alpha:{name}")
    assert entry is not None
    return await host.call_extension(entry, params or {}, view(**view_args), fallback=False)


async def until(holds: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``holds()``: a bounded poll, for what offers no event to wait on."""
    end = time.monotonic() + within
    while not holds():
        assert time.monotonic() < end, f"still not so after {within} s"
        await asyncio.sleep(0.005)


def failures(host: PluginHost, plugin_id: str = "alpha") -> list[tuple[str, str, str]]:
    return [(r.where, r.exc_type, r.message) for r in host.health.view(plugin_id).recent]


def hmac_hex(secret: str, prefix: str, body: bytes) -> str:
    """The signature as docs/plugin-protocol.md defines it (written here, not borrowed from the code under test)."""
    return hmac.new(secret.encode(), prefix.encode() + body, hashlib.sha256).hexdigest()


def signed(
    body: bytes, *, session: str = "", secret: str = SECRET, timestamp: int | None = None
) -> tuple[str, dict[str, str]]:
    """Headers a host holding ``secret`` would send with ``body`` in ``session`` (none: ""), and the request id."""
    request_id, stamp = uuid.uuid4().hex, str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac_hex(secret, f"{stamp}\n{request_id}\n{session}\n", body)
    headers = {"X-Pixsim-Timestamp": stamp, "X-Pixsim-Request-Id": request_id, "X-Pixsim-Signature": signature}
    if session:
        headers["X-Pixsim-Session"] = session
    return request_id, headers


async def session_of(client: httpx.AsyncClient, timestamp: int | None = None) -> str:
    """The server's session, as a host learns it: a signed hello outside any session is answered 409 naming it."""
    hello = dumps({"type": "hello", "id": 1, "protocol": 1})
    refused = await client.post("/", content=hello, headers=signed(hello, timestamp=timestamp)[1])
    assert (refused.status_code, refused.json()["title"]) == (
        409,
        "not this server's session: say hello again in its session",
    )
    session = refused.headers["X-Pixsim-Session"]
    assert re.fullmatch(r"[0-9a-f]{32}", session), session
    return session


# -- loading and identity ------------------------------------------------------------------------------------------
async def test_remote_plugin_loads_enabled_and_answers_through_the_host(serve: Any, load_host: LoadHost) -> None:
    app = serve_plugin(Served(), secret=SECRET)
    host = await load_host(descriptor(serve(app)))
    info = host.plugin("alpha")
    assert info.state is PluginState.ENABLED, info.reason
    assert info.manifest is not None and info.manifest.isolation.value == "remote"
    assert info.manifest.name == "Remote test plugin"  # the operator's manifest, not the one the remote sent
    assert host.runs_as("alpha").startswith("remote (http://127.0.0.1:")
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True
    assert await condition(host, "raining", world_meta={"weather": "sun"}) is False
    bonus = host.behavior.get(ExtensionKind.SCORING, "plugin:alpha:bonus")
    assert bonus is not None
    assert await host.call_extension(bonus, {}, view(), fallback=1.0) == 1.5
    assert failures(host) == []


@pytest.mark.parametrize("granted", [True, False])
async def test_capability_requests_are_checked_against_the_configured_permissions(
    serve: Any, load_host: LoadHost, storage: Storage, granted: bool
) -> None:
    world = await storage.worlds.create_world("Harbor", {})
    session = await storage.sessions.create_session(world.id, flags={"plugin:alpha:mood": "happy"})  # type: ignore[attr-defined]
    permissions = EXTEND + (["session:read"] if granted else [])
    url = serve(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(url, permissions=permissions), storage=storage)
    assert await condition(host, "happy", session_id=session.id) is granted
    health = host.health.view("alpha")
    if granted:
        assert health.denials == 0 and failures(host) == []
    else:
        assert health.denials >= 1
        assert ("session.get_flag", "PermissionDenied") in [(w, t) for w, t, _ in failures(host)]
        assert ("plugin:alpha:happy", "PermissionDenied") in [(w, t) for w, t, _ in failures(host)]


async def test_wrong_secret_is_refused_401_and_the_plugin_quarantined(serve: Any, load_host: LoadHost) -> None:
    app = serve_plugin(Served(), secret="the remote's own secret")
    host = await load_host(descriptor(serve(app)))
    info = host.plugin("alpha")
    assert info.state is PluginState.QUARANTINED
    assert info.reason is not None
    assert "'alpha'" in info.reason and "HTTP 401" in info.reason and "bad signature" in info.reason
    assert SECRET_SETTING in info.reason
    assert app.state.plugin_server.delivered == 0  # nothing reached the plugin


async def test_missing_secret_setting_quarantines_without_a_request(
    serve: Any, load_host: LoadHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_SETTING)
    app = serve_plugin(Served(), secret=SECRET)
    host = await load_host(descriptor(serve(app)))
    info = host.plugin("alpha")
    assert info.state is PluginState.QUARANTINED and SECRET_SETTING in (info.reason or "")
    assert app.state.plugin_server.delivered == 0


async def test_identity_comes_from_the_configuration_not_from_the_welcome(serve: Any, load_host: LoadHost) -> None:
    url = serve(serve_plugin(Served(plugin_id="beta"), secret=SECRET))
    host = await load_host(descriptor(url, plugin_id="alpha"))
    info = host.plugin("alpha")
    assert info.state is PluginState.QUARANTINED
    assert "answered as 'beta'" in (info.reason or "")
    assert "beta" not in [p.id for p in host.plugins()]


async def test_unreachable_remote_is_quarantined_with_its_endpoint(load_host: LoadHost) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    host = await load_host(descriptor(url))
    reason = host.plugin("alpha").reason or ""
    assert host.plugin("alpha").state is PluginState.QUARANTINED
    assert "'alpha'" in reason and "unreachable" in reason and url in reason


# -- the server's checks -------------------------------------------------------------------------------------------
async def test_server_refuses_replayed_stale_forged_oversized_and_malformed_requests(serve: Any) -> None:
    app = serve_plugin(Served(), secret=SECRET, max_bytes=4096)
    url = serve(app)
    hello = dumps({"type": "hello", "id": 1, "protocol": 1})
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        session = await session_of(client)
        request_id, headers = signed(hello, session=session)
        first = await client.post("/", content=hello, headers=headers)
        assert first.status_code == 200 and first.json()["type"] == "welcome"
        assert first.headers["X-Pixsim-Signature"] == hmac_hex(SECRET, f"{request_id}\n", first.content)
        replayed = await client.post("/", content=hello, headers=headers)  # the same signed request again
        assert (replayed.status_code, replayed.json()["title"]) == (401, "replayed request id")
        old = int(time.time()) - 300
        stale = await client.post("/", content=hello, headers=signed(hello, session=session, timestamp=old)[1])
        assert (stale.status_code, stale.json()["title"]) == (401, "stale timestamp")
        forged = await client.post("/", content=hello, headers=signed(hello, session=session, secret="guess")[1])
        assert (forged.status_code, forged.json()["title"]) == (401, "bad signature")
        other = hello.replace(b'"id":1', b'"id":2')
        tampered = await client.post("/", content=other, headers=signed(hello, session=session)[1])
        assert tampered.status_code == 401
        unsigned = await client.post("/", content=hello, headers={"X-Pixsim-Session": session})
        assert unsigned.status_code == 401
        moved = {**signed(hello)[1], "X-Pixsim-Session": session}  # signed outside the session, then moved into it
        assert ((r := await client.post("/", content=hello, headers=moved)).status_code, r.json()["title"]) == (
            401,
            "bad signature",
        )
        huge = b'{"type":"hello","pad":"' + b"x" * 5000 + b'"}'
        assert (await client.post("/", content=huge, headers=signed(huge, session=session)[1])).status_code == 413
        for bad in (b'{"type":"hello","id":1,"id":2,"protocol":1}', b"[1]", b'{"type":"nonsense","id":1}'):
            assert (await client.post("/", content=bad, headers=signed(bad, session=session)[1])).status_code == 400
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:  # a host that has not been granted
        call = dumps({"type": "call", "id": 2, "hook": "register_behavior", "items": [[]]})
        early = await client.post("/", content=call, headers=signed(call, session=session)[1])
        assert (early.status_code, early.json()["title"]) == (409, "no grant yet: say hello again")
        assert early.headers["X-Pixsim-Session"] == session  # every 409 names the session to greet in
    assert app.state.plugin_server.delivered == 1  # only the first hello in the session reached the plugin


# -- the transport's checks ----------------------------------------------------------------------------------------
async def test_tampered_response_signature_is_a_protocol_error_and_falls_back(serve: Any, load_host: LoadHost) -> None:
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    assert host.plugin("alpha").state is PluginState.ENABLED
    meddler.tamper = True
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is False  # the fallback
    ((where, exc_type, message),) = failures(host)
    assert (where, exc_type) == ("plugin:alpha:raining", "ProtocolError")
    assert "not signed for this request" in message and "'alpha'" in message


async def test_a_failed_exchange_fails_only_its_call(serve: Any, load_host: LoadHost) -> None:
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    meddler.tamper = True
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is False
    meddler.tamper = False
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True  # not "restarting" for good
    assert len(failures(host)) == 1


async def test_a_remote_that_restarted_is_greeted_again(serve: Any, load_host: LoadHost) -> None:
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    meddler.app = serve_plugin(Served(), secret=SECRET)  # a new remote process: no grant, no registrations
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is False  # 409: falls back
    assert "no longer knows this host" in failures(host)[-1][2]
    isolated = host.isolated("alpha")
    assert isolated is not None and isolated.state is State.LOST
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True  # hello, grant, replay, call
    assert isolated.state is State.READY


async def test_a_conversation_replayed_to_a_restarted_remote_is_refused_and_nothing_reaches_the_plugin(
    serve: Any, load_host: LoadHost
) -> None:
    """Red-team 38. Everything the host said to the remote (hello, grant, lifecycle, a call), recorded on the path
    and played back within the skew window to the remote's next process, which remembers none of those request
    ids: each is refused (409, signed for a session that process never had), and none reaches its plugin. Then
    the same recording again with the new session put in its header: the signature does not cover that (401)."""
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    url = serve(meddler)
    host = await load_host(descriptor(url))
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True
    recorded = list(meddler.requests)
    assert [json.loads(body)["type"] for body, _ in recorded][:3] == ["hello", "hello", "grant"]  # 409, then in it
    restarted = serve_plugin(Served(), secret=SECRET)
    meddler.app = restarted  # the remote's next process: a new session, and no request id in memory
    keep = ("content-type", "x-pixsim-timestamp", "x-pixsim-request-id", "x-pixsim-signature", "x-pixsim-session")
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        replays = [
            await client.post("/", content=body, headers={k: v for k, v in headers.items() if k in keep})
            for body, headers in recorded
        ]
        assert {r.status_code for r in replays} == {409}
        session = replays[0].headers["X-Pixsim-Session"]
        moved = [
            await client.post("/", content=body, headers={**headers, "x-pixsim-session": session})
            for body, headers in ((b, {k: v for k, v in h.items() if k in keep}) for b, h in recorded)
        ]
        assert {(r.status_code, r.json()["title"]) for r in moved} == {(401, "bad signature")}
    assert restarted.state.plugin_server.delivered == 0
    # The host itself is answered 409 too, greets the new process in its session, and goes on.
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is False
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True
    assert restarted.state.plugin_server.delivered > 0


async def test_a_replay_after_its_id_was_forgotten_but_inside_the_skew_window_is_refused() -> None:
    """The server's clock is the test's. Skew 10 s: a request stamped 1000 arrives when the server's clock says 990
    (the host's clock 10 s ahead: accepted). At 1010 it is exactly 10 s old, still inside the window: its id must
    still be remembered (a memory that forgot it at 990 + 2 * 10 would take the replay). At 1010.5 it is stale."""
    now = [990.0]
    app = serve_plugin(Served(), secret=SECRET, max_skew_s=10, clock=lambda: now[0])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://remote") as client:
            session = await session_of(client, timestamp=990)
            ping = dumps({"type": "ping", "id": 1})
            _, headers = signed(ping, session=session, timestamp=1000)
            first = await client.post("/", content=ping, headers=headers)
            assert (first.status_code, first.json()) == (200, {"type": "pong", "id": 1})
            now[0] = 1010.0
            again = await client.post("/", content=ping, headers=headers)
            assert (again.status_code, again.json()["title"]) == (401, "replayed request id")
            now[0] = 1010.5
            late = await client.post("/", content=ping, headers=headers)
            assert (late.status_code, late.json()["title"]) == (401, "stale timestamp")
    assert app.state.plugin_server.delivered == 1


async def test_an_answer_whose_signature_was_removed_is_a_protocol_error_and_falls_back(
    serve: Any, load_host: LoadHost
) -> None:
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    meddler.strip = True
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is False  # the fallback
    ((where, exc_type, message),) = failures(host)
    assert (where, exc_type) == ("plugin:alpha:raining", "ProtocolError")
    assert "not signed for this request" in message
    meddler.strip = False
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True  # only that call failed


async def test_an_answer_signed_for_an_earlier_request_is_a_protocol_error_and_falls_back(
    serve: Any, load_host: LoadHost
) -> None:
    """A genuine answer, genuinely signed, played back (on the path) as the answer to a later call: its signature
    names the earlier request's id, so it is refused, not taken for this call's answer (it said true)."""
    meddler = Meddler(serve_plugin(Served(), secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True
    meddler.replay = True
    assert await condition(host, "raining", world_meta={"weather": "sun"}) is False  # the fallback, not the true
    ((where, exc_type, message),) = failures(host)
    assert (where, exc_type) == ("plugin:alpha:raining", "ProtocolError")
    assert "not signed for this request" in message


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_answer_over_the_size_cap_is_rejected(serve: Any, load_host: LoadHost, chunked: bool) -> None:
    url = serve(Meddler(serve_plugin(Served(), secret=SECRET), chunked=chunked))
    host = await load_host(descriptor(url), sandbox_max_message_bytes=4096)
    assert await host.hook.provide_simulation_defaults(world_id=100) == [{"pad": "x" * 100}]
    assert await host.hook.provide_simulation_defaults(world_id=10_000) == []
    ((where, exc_type, message),) = failures(host)
    assert (where, exc_type) == ("provide_simulation_defaults", "ProtocolError")
    assert "4096-byte cap" in message


async def test_slow_remote_falls_back_within_its_timeout(serve: Any, load_host: LoadHost) -> None:
    plugin = Served()
    host = await load_host(descriptor(serve(serve_plugin(plugin, secret=SECRET)), timeout_ms=150))
    try:
        assert await condition(host, "slow") is False
        assert not plugin.finished.is_set()  # it fell back while the remote was still holding the call
    finally:
        plugin.release.set()
    ((where, exc_type, message),) = failures(host)
    assert (where, exc_type) == ("plugin:alpha:slow", "PluginCrashed")
    assert "'alpha'" in message and "did not answer within 150 ms" in message


async def test_late_answers_of_a_slow_remote_are_dropped_not_taken_for_the_next(
    serve: Any, load_host: LoadHost
) -> None:
    plugin = Served()
    app = serve_plugin(plugin, secret=SECRET)
    host = await load_host(descriptor(serve(app), timeout_ms=1000))
    server = app.state.plugin_server
    try:
        assert await condition(host, "slow") is False  # the host gave up; the remote is still in the call
        delivered = server.delivered
        sun = asyncio.ensure_future(condition(host, "raining", world_meta={"weather": "sun"}))
        await until(lambda: server.delivered > delivered)  # the next call is at the remote, behind the slow one
    finally:
        plugin.release.set()
    # The abandoned call's answer (True) comes back first, while the next call waits: it must not be taken for it.
    assert await sun is False
    assert await condition(host, "raining", world_meta={"weather": "rain"}) is True


async def test_transport_is_not_restartable_and_opens_once() -> None:
    runtime = RemoteRuntime(endpoint="http://127.0.0.1:9/", secret_setting=SECRET_SETTING)
    transport = RemoteTransport("alpha", runtime, b"k", 1 << 20)
    assert transport.restartable is False and transport.label == "alpha"
    with pytest.raises(PluginCrashed, match="'alpha'"):
        await transport.exchange({"type": "ping", "id": 1})
    await transport.open()
    client = transport._client
    await transport.open()
    assert transport._client is client
    await transport.close(kill=True)
    with pytest.raises(ValueError, match="secret"):
        RemoteTransport("alpha", runtime, b"", 1 << 20)


# -- events: fire and forget ---------------------------------------------------------------------------------------
def created(session_id: int) -> SessionCreated:
    return SessionCreated(world_id=1, session=SessionSnapshot(id=session_id, world_id=1, world_time=0.0, version=1))


async def test_events_are_fire_and_forget(serve: Any, load_host: LoadHost) -> None:
    plugin = Served(hold_events=True)
    url = serve(serve_plugin(plugin, secret=SECRET))
    # Deadlines far longer than the caller's patience below: a host that waited for the remote would wait 30 s.
    host = await load_host(descriptor(url, timeout_ms=30_000), hook_deadline_ms=30_000)
    isolated = host.isolated("alpha")
    assert isolated is not None
    try:
        async with asyncio.timeout(10):
            await host.hook.on_session_created(event=created(41))
        assert await asyncio.to_thread(plugin.entered.wait, 10)  # the remote has the event, and is still on it
        assert plugin.events == []
    finally:
        plugin.release.set()
    await isolated.drain_events()
    assert plugin.events == [41]
    assert failures(host) == []


async def test_event_is_retried_after_transport_failures(serve: Any, load_host: LoadHost) -> None:
    plugin = Served()
    meddler = Meddler(serve_plugin(plugin, secret=SECRET))
    host = await load_host(descriptor(serve(meddler)))
    meddler.fail, meddler.match = 2, b'"on_session_created"'
    await host.hook.on_session_created(event=created(42))
    isolated = host.isolated("alpha")
    assert isolated is not None
    await isolated.drain_events()
    assert meddler.failed == 2
    assert plugin.events == [42]  # the third attempt delivered it
    assert [w for w, _, _ in failures(host) if w == "on_session_created"] == []


async def test_full_event_queue_drops_the_oldest_and_records_it(serve: Any, load_host: LoadHost) -> None:
    plugin = Served(hold_events=True)  # the remote holds the first event it gets until all three were sent
    host = await load_host(descriptor(serve(serve_plugin(plugin, secret=SECRET))), remote_event_queue=1)
    try:
        for session_id in (1, 2, 3):
            await host.hook.on_session_created(event=created(session_id))
    finally:
        plugin.release.set()
    isolated = host.isolated("alpha")
    assert isolated is not None
    await isolated.drain_events()
    dropped = [m for w, t, m in failures(host) if (w, t) == ("on_session_created", "OverflowError")]
    assert dropped and "oldest event was dropped" in dropped[0]
    assert len(dropped) + len(plugin.events) == 3
    assert plugin.events[-1] == 3  # the newest survives


# -- the contrib example and the command line ----------------------------------------------------------------------
async def test_contrib_remote_example_serves_weather(
    serve: Any, load_host: LoadHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(remote_example.SECRET_SETTING, "weather secret")
    url = serve(remote_example.create_app())
    assert remote_example.manifest.remote is not None
    runtime = remote_example.manifest.remote.model_copy(update={"endpoint": url})
    host = await load_host(RemotePlugin(remote_example.manifest.model_copy(update={"remote": runtime})))
    assert host.plugin("weather").state is PluginState.ENABLED, host.plugin("weather").reason
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:weather:is_raining")
    assert entry is not None
    assert await host.call_extension(entry, {}, view({"weather": {"condition": "Storm"}}), fallback=False) is True
    assert await host.call_extension(entry, {}, view({"weather": "sun"}), fallback=False) is False


def test_remote_example_descriptor_is_configured_from_the_environment() -> None:
    manifest = remote_example.descriptor.manifest
    assert isinstance(manifest, PluginManifest) and manifest.remote is not None
    assert (manifest.id, manifest.kind.value, manifest.isolation.value) == ("weather", "remote", "remote")
    assert manifest.remote.secret_setting == "PIXSIM_WEATHER_REMOTE_SECRET"


def test_command_line_needs_the_secret_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PIXSIM_UNSET_SECRET", raising=False)
    with pytest.raises(SystemExit):
        main(["contrib_plugins.weather", "--secret-env", "PIXSIM_UNSET_SECRET"])
    assert "PIXSIM_UNSET_SECRET is not set" in capsys.readouterr().err


# -- the server's parts --------------------------------------------------------------------------------------------
def test_answers_of_a_call_the_host_gave_up_on_are_dropped() -> None:
    delivered: list[tuple[int, str, int]] = []
    channel = _ThreadChannel(lambda seq, message: delivered.append((seq, message["type"], message["id"])))
    channel.inbox.put((1, {"type": "call", "id": 1}))
    assert channel.recv()["id"] == 1
    channel.send({"type": "cap", "id": 1})  # the plugin asks the host something...
    channel.inbox.put((2, {"type": "call", "id": 2}))  # ...but the host gave up on call 1 and calls again
    with pytest.raises(ProtocolError, match="gave up"):
        channel.recv()  # the plugin's capability call raises
    channel.send({"type": "cap", "id": 2})  # it tries again: dropped, and raises again
    with pytest.raises(ProtocolError):
        channel.recv()
    channel.send({"type": "result", "id": 1})  # call 1's answer: dropped
    assert channel.recv() == {"type": "call", "id": 2}  # call 2 was kept for the runner
    channel.send({"type": "result", "id": 2})
    assert delivered == [(1, "cap", 1), (2, "result", 2)]


def test_seen_request_ids_expire_and_are_bounded() -> None:
    seen = _SeenIds(keep_s=60, capacity=2)
    assert seen.add("a", 0) is None and seen.add("a", 1) == "replayed request id"
    assert seen.add("b", 2) is None and seen.add("c", 3) == "too many recent requests"  # fail closed
    assert seen.add("a", 60) == "replayed request id"  # kept through the last moment of its 60 s (inclusive)
    assert seen.add("c", 60.5) is None  # "a" expired (a request carrying it would be stale by now)


def test_a_stopped_server_channel_stays_closed_even_when_plugin_code_swallowed_the_end() -> None:
    channel = _ThreadChannel(lambda seq, message: None)
    channel.inbox.put(None)  # stop() while the plugin waited for a capability answer
    with pytest.raises(EOFError):
        channel.recv()
    with pytest.raises(EOFError):  # the worker's next read ends it too, instead of waiting forever
        channel.recv()

"""Protocol 1 conformance checks for out-of-process PixSim plugins, in any language (``docs/plugin-protocol.md``).

The suite plays the host. Each ``check_*`` coroutine takes a :class:`PluginChannel` to a plugin that has just
started (nothing sent yet), holds one conversation with it, and raises ``AssertionError`` saying what the plugin
did wrong. A channel is abstract: ``exchange_bytes(body) -> body`` (one message out, the plugin's one answer back,
unparsed). :class:`FramedChannel` adds the raw stream for the framing checks. Provided here:

- :class:`ProcessChannel` — frames on a socket to a process: any command given the socket as fd 3
  (:func:`spawn_command`);
- :class:`HttpChannel` — one signed POST per message, in the server's session (the HTTP transport).

The plugin under test must implement the *conformance profile* (spec section 15; ``sample_plugin.py`` is the
reference): condition ``is_tired``, effect ``mark_seen``, hook ``on_session_updated``. The checks parse every
answer with the host's own strict parser (:func:`pixsim_hooks.runtime._protocol.loads`) and schema
(:func:`~pixsim_hooks.runtime._protocol.parse_plugin_message`), and also ask for what that parser is lax about (UTF-8
only, no byte-order mark).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from pixsim_hooks import NpcSnapshot, NpcView, SessionSnapshot, SessionUpdated
from pixsim_hooks.plugin import ManifestError, ProtocolError, freeze, member_requirements, parse_manifest
from pixsim_hooks.runtime import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
from pixsim_hooks.runtime._protocol import FRAME_HEADER, Interner, dumps, encode_value, loads, parse_plugin_message

__all__ = [
    "CHECKS",
    "FRAMED_CHECKS",
    "HTTP_CHECKS",
    "ISOLATABLE_HOOKS",
    "ChannelClosed",
    "FramedChannel",
    "Host",
    "HttpChannel",
    "PluginChannel",
    "ProcessChannel",
    "spawn_command",
]

PROFILE_HOOKS = frozenset({"register_behavior", "on_session_updated"})
ISOLATABLE_HOOKS = frozenset(  # section 7: what a plugin out of process may implement (the spec's list, not the code's)
    {
        "on_load",
        "on_enable",
        "on_disable",
        "register_behavior",
        "suggest_activities",
        "provide_simulation_defaults",
        "on_session_created",
        "on_session_updated",
        "on_interaction_executed",
        "on_npc_spawned",
        "on_location_changed",
        "on_world_time_advanced",
    }
)
CONDITION, EFFECT = "is_tired", "mark_seen"
FIRST_ID = 41  # the suite's first request id: a plugin that assumes ids start at 1 is caught
REPLY_TIMEOUT_S = 5.0
WORLD_ID = 3
_REGISTERED_AS = {"register_condition_evaluator": "", "register_effect_handler": "effect:"}
_BOM = b"\xef\xbb\xbf"


class ChannelClosed(Exception):
    """The plugin closed the channel, or its endpoint refused the message (HTTP status other than 200)."""


# -- channels ---------------------------------------------------------------------------------------------------
class PluginChannel(abc.ABC):
    """The host's end of one conversation with the plugin under test."""

    kind: ClassVar[str] = "abstract"
    max_bytes: int = MAX_MESSAGE_BYTES

    @abc.abstractmethod
    async def exchange_bytes(self, body: bytes) -> bytes:
        """Send ``body`` as one message, exactly as given; the plugin's answer, unparsed. ChannelClosed if none."""

    @abc.abstractmethod
    async def wait_closed(self, within: float) -> int | None:
        """After ``bye``: wait until the plugin has closed the channel; its exit code (None: not a process)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """End the conversation from the host side (kill the process, close the client)."""

    async def exchange(self, message: dict[str, Any]) -> bytes:
        return await self.exchange_bytes(dumps(message))


class FramedChannel(PluginChannel):
    """Frames on a stream: 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON."""

    kind = "frames"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def write(self, data: bytes) -> None:
        """Raw bytes onto the stream (the framing checks split and join frames themselves)."""
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ChannelClosed(f"writing failed: {exc}") from None

    async def read_frame(self, within: float = REPLY_TIMEOUT_S) -> bytes:
        """The body of the next frame; its header must announce no more than the message cap."""
        try:
            async with asyncio.timeout(within):
                (size,) = FRAME_HEADER.unpack(await self.reader.readexactly(FRAME_HEADER.size))
                assert size <= self.max_bytes, f"a frame header announces {size} bytes, over the {self.max_bytes} cap"
                return await self.reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            raise ChannelClosed(f"the plugin closed the channel ({len(exc.partial)} bytes into a read)") from None
        except TimeoutError:
            raise AssertionError(f"the plugin sent no complete frame within {within} s") from None

    async def stray_bytes(self, wait: float) -> bytes:
        """Whatever the plugin sends within ``wait`` seconds when nothing is asked of it."""
        try:
            async with asyncio.timeout(wait):
                return await self.reader.read(1 << 16)
        except TimeoutError:
            return b""

    async def exchange_bytes(self, body: bytes) -> bytes:
        await self.write(FRAME_HEADER.pack(len(body)) + body)
        return await self.read_frame()

    async def _eof(self, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                rest = await self.reader.read(1)
        except TimeoutError:
            raise AssertionError(f"the plugin did not close the channel within {within} s of bye") from None
        assert rest == b"", "the plugin sent bytes after bye"


class ProcessChannel(FramedChannel):
    """Frames on a socket to a process; ``kill`` ends the process (its whole group)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        process: asyncio.subprocess.Process,
        kill: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(reader, writer)
        self.process = process
        self._kill = kill

    async def wait_closed(self, within: float) -> int | None:
        await self._eof(within)
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"the plugin closed the channel but had not exited {within} s later") from None

    async def aclose(self) -> None:
        await self._kill()


async def spawn_command(command: str) -> ProcessChannel:
    """Run ``command`` (a shell command line) with its end of a socket pair as file descriptor 3 (and
    ``PIXSIM_PROTOCOL_FD=3`` in its environment): the convention for a plugin in any language."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = child.fileno()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,  # a trampoline: POSIX shells cannot all redirect descriptors above 9
            "-I",
            "-S",
            "-c",
            _TO_FD3,
            str(fd),
            command,
            stdin=asyncio.subprocess.DEVNULL,
            pass_fds=(fd,),
            start_new_session=True,  # its own process group: one killpg ends everything it started
            env={**os.environ, "PIXSIM_PROTOCOL_FD": "3"},
        )
    finally:
        child.close()
    reader, writer = await asyncio.open_unix_connection(sock=parent)

    async def kill() -> None:
        writer.close()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    return ProcessChannel(reader, writer, process, kill)


_TO_FD3 = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.execv("/bin/sh", ["/bin/sh", "-c", sys.argv[2]])
"""


def sign(secret: bytes, prefix: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``prefix`` and ``body`` (written from the spec, not borrowed from the host)."""
    return hmac.new(secret, prefix.encode() + body, hashlib.sha256).hexdigest()


class HttpChannel(PluginChannel):
    """One signed POST per message, in the server's session: the first ``hello`` goes without one, the 409 that
    answers it names the session (spec 2.2), and the hello is sent again in it. Every answer's signature is checked
    against its own request id."""

    kind = "http"

    def __init__(self, url: str, secret: bytes, *, timeout: float = REPLY_TIMEOUT_S) -> None:
        self.url = url
        self.secret = secret
        self.session = ""  # the server's, once a 409 named it
        self.client = httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)

    def headers(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        request_id: str | None = None,
        secret: bytes | None = None,
        session: str | None = None,
    ) -> dict[str, str]:
        """Signed headers for ``body``: in this channel's session unless ``session`` says another ("" for none)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        rid = request_id or uuid.uuid4().hex
        session = self.session if session is None else session
        headers = {
            "Content-Type": "application/json",
            "X-Pixsim-Timestamp": stamp,
            "X-Pixsim-Request-Id": rid,
            "X-Pixsim-Signature": sign(secret or self.secret, f"{stamp}\n{rid}\n{session}\n", body),
        }
        if session:
            headers["X-Pixsim-Session"] = session
        return headers

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(self.url, content=body, headers=headers)

    async def exchange_bytes(self, body: bytes) -> bytes:
        headers = self.headers(body)
        response = await self.post(body, headers)
        if response.status_code == 409 and self.learn(response) and _type_of(body) == "hello":
            headers = self.headers(body)  # once: the session is known now
            response = await self.post(body, headers)
        if response.status_code != 200:
            raise ChannelClosed(f"HTTP {response.status_code}: {response.text[:200]}")
        self.check_signed(response, headers["X-Pixsim-Request-Id"])
        return response.content

    def learn(self, response: httpx.Response) -> bool:
        """Take the session a 409 names; whether it is a new one."""
        session = response.headers.get("X-Pixsim-Session", "")
        assert re.fullmatch(r"[0-9a-f]{32}", session), f"a 409 must name the server's session, not {session[:40]!r}"
        new, self.session = session != self.session, session
        return new

    def check_signed(self, response: httpx.Response, request_id: str) -> None:
        expected = sign(self.secret, f"{request_id}\n", response.content)
        received = response.headers.get("X-Pixsim-Signature", "")
        assert hmac.compare_digest(received.encode(), expected.encode()), "the answer is not signed for its request"

    async def wait_closed(self, within: float) -> int | None:
        return None  # an endpoint outlives one host's conversation

    async def aclose(self) -> None:
        await self.client.aclose()


def _type_of(body: bytes) -> object:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None


# -- the suite's host ---------------------------------------------------------------------------------------------
def strict(raw: bytes, after: str) -> dict[str, Any]:
    """An answer as the spec requires it: UTF-8 without BOM, strict JSON, a valid plugin message."""
    assert not raw.startswith(_BOM), f"the answer to {after} starts with a byte-order mark"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"the answer to {after} is not UTF-8: {exc}") from None
    try:
        message = loads(raw)
        parse_plugin_message(message)
    except ProtocolError as exc:
        raise AssertionError(f"the answer to {after} is refused by the host: {exc} — {raw[:300]!r}") from None
    return message


def expect(reply: dict[str, Any], kind: str, request_id: int) -> dict[str, Any]:
    got = (reply.get("type"), reply.get("id"))
    assert got == (kind, request_id), f"expected {kind} with id {request_id}, got {got[0]} with id {got[1]}"
    return reply


@dataclass
class CallOutcome:
    call_id: int
    reply: dict[str, Any]  # the final answer: result or error
    caps: list[dict[str, Any]] = field(default_factory=list)  # capability requests made meanwhile, in order

    def results(self, count: int) -> list[dict[str, Any]]:
        expect(self.reply, "result", self.call_id)
        results: list[dict[str, Any]] = self.reply["results"]
        assert len(results) == count, f"a batch of {count} items was answered with {len(results)} results"
        return results

    def values(self, count: int) -> list[Any]:
        values = []
        for index, item in enumerate(self.results(count)):
            assert item["ok"] is True, f"item {index} failed: {item.get('error')}"
            values.append(item.get("value"))
        return values


def booleans(values: list[Any]) -> list[bool]:
    """A condition's answers, which must be JSON booleans (1 or "yes" count as false for the host)."""
    assert all(type(v) is bool for v in values), f"a condition answered something other than true / false: {values}"
    return values


Answer = Callable[[dict[str, Any]], dict[str, Any] | bytes]


class Host:
    """The host side of one conversation, as the suite plays it: fresh increasing ids, handshake, calls whose
    capability requests are answered from a small fixed world (see :meth:`answer`)."""

    def __init__(self, channel: PluginChannel) -> None:
        self.channel = channel
        self.raw: list[bytes] = []
        self.welcome: dict[str, Any] = {}
        self.plugin_id = ""
        self.extensions: dict[str, str] = {}  # name -> the full id the host answered
        self.item_flags: list[dict[str, Any]] = []  # effect.get_flag answers, per batch item, by full key
        self.interner = Interner()
        self._next = FIRST_ID
        self._permission_of = member_requirements()
        # The same objects every call: the interner sends them once per conversation, then by reference.
        self.session = SessionSnapshot(id=1, world_id=WORLD_ID, world_time=3600.0, version=2)
        self.world_meta = freeze({"behavior": {"enabledPlugins": ["sample"]}})

    def new_id(self) -> int:
        self._next += 1
        return self._next - 1

    async def send(self, message: dict[str, Any] | bytes, after: str) -> dict[str, Any]:
        body = message if isinstance(message, bytes) else dumps(message)
        raw = await self.channel.exchange_bytes(body)
        self.raw.append(raw)
        return strict(raw, after)

    async def request(self, kind: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        request_id = self.new_id()
        return request_id, await self.send({"type": kind, "id": request_id, **fields}, f"{kind} {request_id}")

    # -- handshake --------------------------------------------------------------------------------------------
    async def hello(self) -> dict[str, Any]:
        request_id, reply = await self.request("hello", protocol=PROTOCOL_VERSION)
        self.welcome = expect(reply, "welcome", request_id)
        self.plugin_id = str(self.welcome["manifest"].get("id", ""))
        return self.welcome

    async def grant(self) -> None:
        permissions = [str(p) for p in self.welcome["manifest"].get("permissions", ())]
        request_id, reply = await self.request("grant", plugin_id=self.plugin_id, permissions=permissions)
        expect(reply, "ack", request_id)

    async def start(self) -> None:
        await self.hello()
        missing = PROFILE_HOOKS - set(self.welcome["hooks"])
        assert not missing, f"the conformance profile needs hooks {sorted(missing)}"
        await self.grant()

    async def register(self) -> CallOutcome:
        outcome = await self.call(hook="register_behavior", items=[[]])
        outcome.values(1)
        missing = {CONDITION, EFFECT} - set(self.extensions)
        assert not missing, f"register_behavior did not register {sorted(missing)}"
        return outcome

    # -- calls ------------------------------------------------------------------------------------------------
    async def call(
        self,
        *,
        items: list[list[Any]],
        hook: str | None = None,
        extension: str | None = None,
        answer: Answer | None = None,
    ) -> CallOutcome:
        call_id = self.new_id()
        message: dict[str, Any] = {"type": "call", "id": call_id, "items": items}
        message |= {"hook": hook} if hook is not None else {"extension": extension}
        shared, drop = self.interner.take()
        if shared or drop:
            message |= {"shared": shared, "drop": drop}
        outcome = CallOutcome(call_id, await self.send(message, f"call {call_id}"))
        while outcome.reply.get("type") == "cap":
            cap = outcome.reply
            outcome.caps.append(cap)
            outcome.reply = await self.send((answer or self.answer)(cap), f"cap_result {cap['id']}")
        return outcome

    def encode(self, *args: Any) -> list[Any]:
        """One batch item: the arguments as the host encodes them (shared values by reference)."""
        encoded: list[Any] = encode_value(list(args), self.interner)
        return encoded

    def view(self, npc_id: int = 5, **state: Any) -> NpcView:
        npc = NpcSnapshot(id=npc_id, world_id=WORLD_ID, name=f"NPC {npc_id}")
        return NpcView(WORLD_ID, npc, self.session, self.world_meta, state, {}, 3600.0, "morning")

    def event(self, session_id: int) -> SessionUpdated:
        session = SessionSnapshot(id=session_id, world_id=WORLD_ID, world_time=60.0, version=1)
        return SessionUpdated(world_id=WORLD_ID, session=session, changed=("flags",))

    # -- the fixed world the suite answers capability requests from ------------------------------------------
    @staticmethod
    def version_of(session_id: int) -> int:
        """The version ``session.get_session`` reports for a session (distinct per session: order shows)."""
        return 100 + session_id

    def answer(self, cap: dict[str, Any]) -> dict[str, Any]:
        """``behavior.register_*`` → the full id; ``session.get_session`` → a snapshot; ``effect.get_flag`` →
        the item's flag; anything else (``world.get_world`` included) → PermissionDenied."""
        capability, member, args = cap.get("capability"), cap.get("member"), cap.get("args") or []
        if capability == "behavior" and member in _REGISTERED_AS and len(args) == 1 and isinstance(args[0], str):
            self.extensions[args[0]] = full = f"{_REGISTERED_AS[member]}plugin:{self.plugin_id}:{args[0]}"
            return ok(cap, full)
        if (capability, member) == ("session", "get_session") and len(args) == 1 and type(args[0]) is int:
            snapshot = SessionSnapshot(id=args[0], world_id=WORLD_ID, world_time=60.0, version=self.version_of(args[0]))
            return ok(cap, encode_value(snapshot))
        if (capability, member) == ("effect", "get_flag") and args and isinstance(cap.get("item"), int):
            flags = self.item_flags[cap["item"]] if cap["item"] < len(self.item_flags) else {}
            return ok(cap, flags.get(self.full_key(str(args[0]))))
        return self.deny(cap)

    def deny(self, cap: dict[str, Any]) -> dict[str, Any]:
        capability, member = str(cap.get("capability")), str(cap.get("member"))
        permission = self._permission_of.get(capability, {}).get(member)
        message = f"plugin {self.plugin_id!r} may not access {capability}.{member}"
        error = {"type": "PermissionDenied", "message": message, "permission": permission}
        return {"type": "cap_result", "id": cap["id"], "ok": False, "error": error}

    def full_key(self, key: str) -> str:
        own = f"plugin:{self.plugin_id}:"
        return key if key.startswith(own) else own + key


def ok(cap: dict[str, Any], value: Any) -> dict[str, Any]:
    return {"type": "cap_result", "id": cap["id"], "ok": True, "value": value}


# -- the checks: one statement each -------------------------------------------------------------------------------
async def check_welcome_answers_hello(channel: PluginChannel) -> None:
    """hello → welcome with the same id, protocol 1, a manifest the host accepts and only isolatable hooks."""
    host = Host(channel)
    welcome = await host.hello()
    assert welcome["protocol"] == PROTOCOL_VERSION, f"the plugin speaks protocol {welcome['protocol']}"
    try:
        parse_manifest(welcome["manifest"], source="welcome")
    except ManifestError as exc:
        raise AssertionError(f"the welcome's manifest is refused: {exc}") from None
    extra = set(welcome["hooks"]) - ISOLATABLE_HOOKS
    assert not extra, f"hooks {sorted(extra)} cannot run out of process"


async def check_grant_is_acked(channel: PluginChannel) -> None:
    """grant → ack with the same id."""
    host = Host(channel)
    await host.hello()
    await host.grant()


async def check_ping_is_answered_pong(channel: PluginChannel) -> None:
    """ping → pong with the same id, before and after the grant."""
    host = Host(channel)
    await host.hello()
    request_id, reply = await host.request("ping")
    expect(reply, "pong", request_id)
    await host.grant()
    request_id, reply = await host.request("ping")
    expect(reply, "pong", request_id)


async def check_every_answer_is_strict_json(channel: PluginChannel) -> None:
    """Every answer of a whole conversation is UTF-8, strict JSON, within the limits, and a valid message."""
    host = Host(channel)
    await host.start()
    await host.request("ping")
    await host.register()
    await host.call(extension=host.extensions[CONDITION], items=[host.encode({}, host.view(energy=5))])
    host.item_flags = [{}]
    await host.call(extension=host.extensions[EFFECT], items=[host.encode({}, host.view())])
    await host.call(hook="on_session_updated", items=[host.encode(host.event(7))])
    await host.call(extension=f"plugin:{host.plugin_id}:no_such_thing", items=[[{}, None]])
    await host.request("shutdown")
    assert len(host.raw) >= 12  # strict() checked each one as it came


async def check_unknown_target_is_an_error(channel: PluginChannel) -> None:
    """A call to an unknown extension, or to a hook the plugin did not declare, answers error with the call's id
    and the plugin goes on."""
    host = Host(channel)
    await host.start()
    for hook, extension in ((None, f"plugin:{host.plugin_id}:no_such_thing"), ("suggest_activities", None)):
        outcome = await host.call(items=[[1, None, None]], hook=hook, extension=extension)
        expect(outcome.reply, "error", outcome.call_id)
        assert outcome.reply["error"]["type"], "an error must name its type"
    request_id, reply = await host.request("ping")
    expect(reply, "pong", request_id)


async def check_hook_batch_answers_each_item_in_order(channel: PluginChannel) -> None:
    """A call with N items to a declared hook answers result with exactly N results, in item order."""
    host = Host(channel)
    await host.start()
    sessions = [11, 12, 13, 14]
    outcome = await host.call(hook="on_session_updated", items=[host.encode(host.event(s)) for s in sessions])
    values = outcome.values(len(sessions))
    assert values == [{"session": host.version_of(s), "world": "denied"} for s in sessions], values


async def check_condition_batch_answers_in_order(channel: PluginChannel) -> None:
    """A condition called with a batch answers a JSON boolean per item, in order, over several calls: shared
    values sent once (``shared``) are still resolved by reference later, and dropped ones are replaced."""
    host = Host(channel)
    await host.start()
    await host.register()
    energies = [10, 50, 20, 90, 29, 30]
    items = [host.encode({"below": 30}, host.view(npc_id=i, energy=e)) for i, e in enumerate(energies)]
    outcome = await host.call(extension=host.extensions[CONDITION], items=items)
    assert booleans(outcome.values(len(energies))) == [e < 30 for e in energies]
    items = [host.encode({"below": 60}, host.view(energy=e)) for e in energies]  # references only, now
    outcome = await host.call(extension=host.extensions[CONDITION], items=items)
    assert booleans(outcome.values(len(energies))) == [e < 60 for e in energies]
    host.interner.reset()  # forget what was sent: the next call sends the values again, under new keys
    items = [host.encode({}, host.view(energy=e)) for e in energies]
    outcome = await host.call(extension=host.extensions[CONDITION], items=items)
    assert booleans(outcome.values(len(energies))) == [e < 30 for e in energies]


async def check_a_dropped_value_still_serves_the_call_that_drops_it(channel: PluginChannel) -> None:
    """A call whose items refer to shared values its own ``drop`` forgets is answered from those values (``drop``
    applies after the call's items are decoded: the host's LRU may evict, within one call, a value an earlier
    item of that call refers to); later calls send the values again under new keys."""
    host = Host(channel)
    await host.start()
    await host.register()
    condition = host.extensions[CONDITION]
    first = await host.call(extension=condition, items=[host.encode({}, host.view(energy=1))])
    assert booleans(first.values(1)) == [True]
    items = [host.encode({}, host.view(energy=e)) for e in (1, 99)]  # references to the values sent above
    shared, _ = host.interner.take()
    assert not shared, "the suite's own interner should have sent these values already"
    keys = sorted({ref for item in items for ref in _refs(item)})
    assert keys, "the suite should be sending references"
    call_id = host.new_id()
    message = {"type": "call", "id": call_id, "extension": condition, "items": items, "shared": {}, "drop": keys}
    outcome = CallOutcome(call_id, await host.send(message, f"call {call_id}"))
    assert booleans(outcome.values(2)) == [True, False]
    host.interner.reset()
    again = await host.call(extension=condition, items=[host.encode({}, host.view(energy=2))])
    assert booleans(again.values(1)) == [True]


def _refs(value: Any) -> list[str]:
    if isinstance(value, list):
        return [key for v in value for key in _refs(v)]
    if isinstance(value, dict):
        if value.get("$pixsim") == "ref":
            return [value["key"]]
        return [key for v in value.values() for key in _refs(v)]
    return []


async def check_registration_is_by_name_and_calls_use_the_full_id(channel: PluginChannel) -> None:
    """register_behavior asks behavior.register_* with the bare name only; the host's answer (the full id) is
    the extension the plugin then answers calls for."""
    host = Host(channel)
    await host.start()
    outcome = await host.register()
    asked = sorted(
        (c["capability"], c["member"], tuple(c.get("args") or ()), c.get("kwargs") or {}) for c in outcome.caps
    )
    assert asked == [
        ("behavior", "register_condition_evaluator", (CONDITION,), {}),
        ("behavior", "register_effect_handler", (EFFECT,), {}),
    ], asked
    assert host.extensions[EFFECT] == f"effect:plugin:{host.plugin_id}:{EFFECT}"
    outcome = await host.call(extension=host.extensions[CONDITION], items=[host.encode({}, host.view(energy=1))])
    assert booleans(outcome.values(1)) == [True]


async def check_capability_requests_name_their_call_and_item(channel: PluginChannel) -> None:
    """Capability requests carry ``call`` = the call's id and ``item`` = the batch index, and their ids are
    fresh and strictly increasing over the whole conversation."""
    host = Host(channel)
    await host.start()
    calls = [
        await host.register(),
        await host.call(hook="on_session_updated", items=[host.encode(host.event(s)) for s in (1, 2)]),
    ]
    calls.append(await host.call(hook="on_session_updated", items=[host.encode(host.event(3))]))
    ids = [cap["id"] for outcome in calls for cap in outcome.caps]
    assert ids == sorted(set(ids)), f"capability request ids are not strictly increasing: {ids}"
    assert all(type(i) is int and 1 <= i <= 2**53 - 1 for i in ids), ids
    for outcome in calls:
        assert {cap["call"] for cap in outcome.caps} == {outcome.call_id}, outcome.caps
    assert [cap.get("item") for cap in calls[1].caps] == [0, 0, 1, 1], calls[1].caps
    assert [cap.get("item") for cap in calls[2].caps] == [0, 0], calls[2].caps


async def check_denied_capability_still_answers_the_call(channel: PluginChannel) -> None:
    """A capability answered with an error (PermissionDenied, with its permission) reaches the plugin's code as a
    denial, and the plugin still answers the call."""
    host = Host(channel)
    await host.start()
    outcome = await host.call(hook="on_session_updated", items=[host.encode(host.event(8))])
    assert outcome.values(1) == [{"session": host.version_of(8), "world": "denied"}]
    outcome = await host.call(hook="on_session_updated", items=[host.encode(host.event(9))], answer=host.deny)
    assert outcome.values(1) == [{"session": "denied", "world": "denied"}]


async def check_effect_answers_its_staged_writes(channel: PluginChannel) -> None:
    """An effect reads its flag through effect.get_flag (for its own item) and answers {"flags", "relationships"}."""
    host = Host(channel)
    await host.start()
    await host.register()
    key = host.full_key("seen")
    host.item_flags = [{}, {key: 4}]
    outcome = await host.call(
        extension=host.extensions[EFFECT], items=[host.encode({}, host.view(npc_id=n)) for n in (5, 6)]
    )
    reads = [(c["capability"], c["member"], c.get("item")) for c in outcome.caps]
    assert reads == [("effect", "get_flag", 0), ("effect", "get_flag", 1)], reads
    staged = outcome.values(2)
    for value in staged:
        assert isinstance(value, dict) and set(value) <= {"flags", "relationships"}, value
    flags = [{host.full_key(k): v for k, v in value.get("flags", {}).items()} for value in staged]
    assert flags == [{key: 1}, {key: 5}], flags
    assert [value.get("relationships") for value in staged] == [{"npc:5": {"affinity": 1}}, {"npc:6": {"affinity": 1}}]


async def check_malformed_cap_result_is_not_believed(channel: PluginChannel) -> None:
    """A malformed cap_result is never taken for an answer: the plugin either closes the channel, or fails that
    capability call (the item answers ok=false) and finishes the call with fresh ids — never a replayed request."""
    host = Host(channel)
    await host.start()
    await host.register()
    host.item_flags = [{}]
    malformed: list[int] = []

    def answer(cap: dict[str, Any]) -> dict[str, Any] | bytes:
        if not malformed:
            malformed.append(cap["id"])
            return dumps({"type": "cap_result", "id": cap["id"], "ok": "yes", "value": 1})  # ok must be a boolean
        return host.answer(cap)

    try:
        outcome = await host.call(
            extension=host.extensions[EFFECT], items=[host.encode({}, host.view())], answer=answer
        )
    except ChannelClosed:
        return  # allowed: the plugin (or its endpoint) refused to go on
    ids = [cap["id"] for cap in outcome.caps]
    assert ids == sorted(set(ids)), f"a capability request was repeated after the malformed answer: {ids}"
    if outcome.reply.get("type") == "error":
        expect(outcome.reply, "error", outcome.call_id)
        return
    [item] = outcome.results(1)
    assert item["ok"] is False, "the effect succeeded although its only read was answered with garbage"


async def check_shutdown_is_answered_bye_and_the_channel_closes(channel: PluginChannel) -> None:
    """shutdown → bye with the same id; then the plugin closes the channel (a process exits with code 0)."""
    host = Host(channel)
    await host.start()
    request_id, reply = await host.request("shutdown")
    expect(reply, "bye", request_id)
    code = await channel.wait_closed(REPLY_TIMEOUT_S)
    assert code in (None, 0), f"the plugin exited with code {code} after bye"


# -- framing (stream transports) --------------------------------------------------------------------------------
async def check_each_answer_is_exactly_one_frame(channel: FramedChannel) -> None:
    """Each answer is one frame whose header is its exact length; nothing else is sent unasked."""
    host = Host(channel)
    await host.start()
    for _ in range(3):
        request_id, reply = await host.request("ping")
        expect(reply, "pong", request_id)
        stray = await channel.stray_bytes(0.05)
        assert stray == b"", f"the plugin sent {len(stray)} bytes nobody asked for: {stray[:60]!r}"


async def check_a_frame_in_pieces_is_read_whole(channel: FramedChannel) -> None:
    """A frame that arrives in pieces (header split, body split) is read as one message."""
    host = Host(channel)
    request_id = host.new_id()
    body = dumps({"type": "hello", "id": request_id, "protocol": PROTOCOL_VERSION})
    frame = FRAME_HEADER.pack(len(body)) + body
    for piece in (frame[:1], frame[1:3], frame[3:9], frame[9:]):
        await channel.write(piece)
        await asyncio.sleep(0.02)
    expect(strict(await channel.read_frame(), "a hello in pieces"), "welcome", request_id)


# -- HTTP ----------------------------------------------------------------------------------------------------------
async def check_http_refuses_unsigned_forged_stale_and_replayed_requests(channel: HttpChannel) -> None:
    """Unsigned, wrongly signed, stale (timestamp 10 min off) and replayed requests are answered 401 and do not
    reach the plugin; a correctly signed request after them is answered."""
    host = Host(channel)
    await host.start()
    request_id = host.new_id()
    body = dumps({"type": "ping", "id": request_id})
    good = channel.headers(body)
    refused = {
        "unsigned": await channel.post(body, {"Content-Type": "application/json"}),
        "wrong secret": await channel.post(body, channel.headers(body, secret=b"not the secret")),
        "stale": await channel.post(body, channel.headers(body, timestamp=int(time.time()) - 600)),
        "from the future": await channel.post(body, channel.headers(body, timestamp=int(time.time()) + 600)),
        "tampered": await channel.post(body.replace(b'"ping"', b'"shutdown"'), channel.headers(body)),
    }
    first = await channel.post(body, good)
    refused["replayed"] = await channel.post(body, good)
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 401)
    assert first.status_code == 200
    channel.check_signed(first, good["X-Pixsim-Request-Id"])
    expect(strict(first.content, "a signed ping"), "pong", request_id)


async def check_http_takes_requests_only_in_its_session(channel: HttpChannel) -> None:
    """Requests signed for no session or another one -- a hello among them -- are answered 409 naming the server's
    session (a restarted server has a new one: a recorded conversation is never delivered again); a session header
    the signature does not cover is refused 401; in the session, the conversation goes on."""
    host = Host(channel)
    await host.start()
    session = channel.session
    assert re.fullmatch(r"[0-9a-f]{32}", session), f"the server's session is not 32 lowercase hex digits: {session!r}"
    ping = dumps({"type": "ping", "id": host.new_id()})
    hello = dumps({"type": "hello", "id": host.new_id(), "protocol": PROTOCOL_VERSION})
    other = uuid.uuid4().hex
    outside = {
        "ping without a session": await channel.post(ping, channel.headers(ping, session="")),
        "hello without a session": await channel.post(hello, channel.headers(hello, session="")),
        "ping in another session": await channel.post(ping, channel.headers(ping, session=other)),
        "hello in another session": await channel.post(hello, channel.headers(hello, session=other)),
    }
    assert {name: r.status_code for name, r in outside.items()} == dict.fromkeys(outside, 409)
    named = {name: r.headers.get("X-Pixsim-Session") for name, r in outside.items()}
    assert named == dict.fromkeys(outside, session), f"a 409 must name the server's session: {named}"
    moved = {**channel.headers(ping, session=""), "X-Pixsim-Session": session}  # signed outside, then moved in
    assert (await channel.post(ping, moved)).status_code == 401
    outcome = await host.call(hook="on_session_updated", items=[host.encode(host.event(4))])
    assert outcome.values(1) == [{"session": host.version_of(4), "world": "denied"}]


async def check_http_refuses_oversized_and_non_protocol_bodies(channel: HttpChannel) -> None:
    """A signed body over the 1 MiB cap is answered 413; a signed body that is not a protocol message, 400."""
    host = Host(channel)
    await host.start()
    huge = b'{"type":"ping","id":1,"pad":"' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    assert (await channel.post(huge, channel.headers(huge))).status_code == 413
    for bad in (b"[1]", b'{"type":"ping","id":1,"id":2}', b'{"type":"ping","id":NaN}', b'{"type":"nonsense","id":1}'):
        response = await channel.post(bad, channel.headers(bad))
        assert response.status_code == 400, (bad, response.status_code)
    request_id, reply = await host.request("ping")
    expect(reply, "pong", request_id)


CHECKS = (
    check_welcome_answers_hello,
    check_grant_is_acked,
    check_ping_is_answered_pong,
    check_every_answer_is_strict_json,
    check_unknown_target_is_an_error,
    check_hook_batch_answers_each_item_in_order,
    check_condition_batch_answers_in_order,
    check_a_dropped_value_still_serves_the_call_that_drops_it,
    check_registration_is_by_name_and_calls_use_the_full_id,
    check_capability_requests_name_their_call_and_item,
    check_denied_capability_still_answers_the_call,
    check_effect_answers_its_staged_writes,
    check_malformed_cap_result_is_not_believed,
    check_shutdown_is_answered_bye_and_the_channel_closes,
)
FRAMED_CHECKS = (check_each_answer_is_exactly_one_frame, check_a_frame_in_pieces_is_read_whole)
HTTP_CHECKS = (
    check_http_refuses_unsigned_forged_stale_and_replayed_requests,
    check_http_takes_requests_only_in_its_session,
    check_http_refuses_oversized_and_non_protocol_bodies,
)

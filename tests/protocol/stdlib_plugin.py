"""The conformance profile (docs/plugin-protocol.md, section 15) in Python with the standard library only.

Written from the specification alone, as a plugin author without PixSim's packages would write it: it imports
nothing of pixsim_hooks, pluggy or pydantic, and test_conformance.py checks that it does not. It speaks protocol 1
on the socket whose descriptor is in PIXSIM_PROTOCOL_FD (default 3) and exits 0 after bye or when the host closes
the channel. Run: python -I stdlib_plugin.py
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import struct
import sys
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NoReturn

PROTOCOL = 1
MAX_BYTES = 1 << 20  # section 5.1: the default cap, both directions
MAX_DEPTH = 32  # section 5.4: the message object itself is level 1
MAX_ID = 2**53 - 1  # section 3.4
TAG = "$pixsim"
HEADER = struct.Struct(">I")  # section 2.1: 4-byte big-endian length of the body

MANIFEST = {
    "id": "stdlib-sample",
    "name": "Conformance sample in stdlib Python",
    "version": "1.0.0",
    "description": "The conformance profile, written from the protocol specification with the standard library.",
    "trust": "community",
    "isolation": "process",
    "permissions": ["behavior:extend_conditions", "behavior:extend_effects", "event:subscribe", "session:read"],
}
HOOKS = ["register_behavior", "on_session_updated"]

# section 6.1: the tagged types and their fields (all present)
TAGGED_FIELDS = {
    "NpcView": ("world_id", "npc", "session", "world_meta", "state", "preferences", "world_time", "time_of_day"),
    "NpcSnapshot": ("id", "world_id", "name", "meta"),
    "SessionSnapshot": ("id", "world_id", "world_time", "version", "flags", "relationships"),
    "WorldSnapshot": ("id", "name", "meta"),
    "LocationSnapshot": ("id", "world_id", "name", "meta"),
    "GenerationSnapshot": ("id", "world_id", "prompt", "status", "requested_by", "created_at", "params"),
    "SessionCreated": ("world_id", "session", "event_id", "session_version"),
    "SessionUpdated": ("world_id", "session", "changed", "event_id", "session_version"),
    "InteractionExecuted": (
        "world_id",
        "session_id",
        "npc_id",
        "interaction",
        "payload",
        "event_id",
        "session_version",
    ),
    "NpcSpawned": ("world_id", "npc", "event_id", "session_version"),
    "LocationChanged": (
        "world_id",
        "session_id",
        "location_id",
        "previous_location_id",
        "npc_id",
        "event_id",
        "session_version",
    ),
    "WorldTimeAdvanced": ("world_id", "session_id", "previous", "current", "event_id", "session_version"),
}


# -- errors: what crosses the channel is the class name (sections 3.6 and 9) -----------------------------------------
class ProtocolError(Exception):
    """A host message that is not strict JSON, not valid, or not the one expected now."""


class PermissionDenied(Exception):
    def __init__(self, message: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission


class NotFoundError(Exception):
    pass


class StaleWriteError(Exception):
    pass


class CapabilityError(Exception):
    pass


HOST_ERRORS = {
    "PermissionDenied": PermissionDenied,
    "NotFoundError": NotFoundError,
    "StaleWriteError": StaleWriteError,
    "ValueError": ValueError,
    "TypeError": TypeError,
}


# -- strict JSON (section 5) ----------------------------------------------------------------------------------------
def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:20]} is not finite")
    return number


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_float=_finite, parse_constant=_no_constant)


def _check_sound(value: Any, level: int) -> None:
    """Depth (the message is level 1) and text that is UTF-8 again (no lone surrogate from a \\ud800 escape)."""
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    elif isinstance(value, dict | list):
        if level > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        children = [*value, *value.values()] if isinstance(value, dict) else value  # keys are text too
        for child in children:
            _check_sound(child, level + 1)


def parse(body: bytes) -> dict[str, Any]:
    """One message, strictly: UTF-8 without BOM, one JSON object, finite numbers, unique keys, depth <= 32."""
    if body.startswith(b"\xef\xbb\xbf"):
        raise ProtocolError("a byte-order mark")
    try:
        value = _DECODER.decode(body.decode("utf-8"))  # raw_decode would allow trailing data; decode does not
        _check_sound(value, 1)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not strict JSON: {exc}") from None
    if type(value) is not dict:
        raise ProtocolError("a message must be an object")
    return value


def serialise(message: dict[str, Any]) -> bytes:
    try:
        body = json.dumps(message, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text that is not UTF-8: {exc}") from None
    if len(body) > MAX_BYTES:
        raise ValueError(f"a {message.get('type')} message of {len(body)} bytes is over the cap")
    return body


# -- host messages (section 4) ------------------------------------------------------------------------------------
def _is_id(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


def _is_name(value: Any) -> bool:
    return type(value) is str and 1 <= len(value) <= 200


def _is_error_info(value: Any) -> bool:
    if type(value) is not dict or not set(value) <= {"type", "message", "permission"} or "type" not in value:
        return False
    if type(value["type"]) is not str or len(value["type"]) > 100:
        return False
    if type(value.get("message", "")) is not str or len(value.get("message", "")) > 2000:
        return False
    permission = value.get("permission")
    return permission is None or (type(permission) is str and len(permission) <= 100)


def _call_ok(m: dict[str, Any]) -> bool:
    if ("hook" in m) == ("extension" in m) or not _is_name(m.get("hook", m.get("extension"))):
        return False
    if type(m["items"]) is not list or not all(type(item) is list for item in m["items"]):
        return False
    drop = m.get("drop", [])
    return type(m.get("shared", {})) is dict and type(drop) is list and all(type(k) is str for k in drop)


def _cap_result_ok(m: dict[str, Any]) -> bool:
    if type(m["ok"]) is not bool:
        return False
    if m["ok"]:
        return "error" not in m
    return _is_error_info(m.get("error")) and m.get("value") is None


# type -> (required fields, optional fields, check of the values)
SCHEMAS: dict[str, tuple[set[str], set[str], Callable[[dict[str, Any]], bool]]] = {
    "hello": ({"protocol"}, set(), lambda m: type(m["protocol"]) is int),
    "grant": (
        {"plugin_id", "permissions"},
        set(),
        lambda m: (
            _is_name(m["plugin_id"]) and type(m["permissions"]) is list and all(_is_name(p) for p in m["permissions"])
        ),
    ),
    "call": ({"items"}, {"hook", "extension", "shared", "drop"}, _call_ok),
    "cap_result": ({"ok"}, {"value", "error"}, _cap_result_ok),
    "ping": (set(), set(), lambda m: True),
    "shutdown": (set(), set(), lambda m: True),
}


def check_host_message(message: dict[str, Any]) -> dict[str, Any]:
    schema = SCHEMAS.get(str(message.get("type")))
    if schema is None:
        raise ProtocolError(f"unknown message type {str(message.get('type'))[:40]!r}")
    required, optional = schema[0] | {"type", "id"}, schema[1]
    fields = set(message)
    if not required <= fields or not fields <= required | optional:
        raise ProtocolError(f"a {message['type']} with fields {sorted(fields)}")
    if not _is_id(message["id"]) or not schema[2](message):
        raise ProtocolError(f"an invalid {message['type']}")
    return message


# -- the channel: frames on a socket (section 2.1) ----------------------------------------------------------------
class Channel:
    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = self.sock.recv(1 << 16)
            if not chunk:  # the host closed its end: exit 0 (section 2.1), even in the middle of a call
                sys.exit(0)
            self.buffer += chunk

    def receive(self) -> dict[str, Any]:
        """The next host message, checked; ProtocolError when it is not a valid one (the frame is consumed)."""
        self._fill(HEADER.size)
        (size,) = HEADER.unpack(self.buffer[: HEADER.size])
        if size > MAX_BYTES:  # the host never sends one: the stream is not in step any more
            sys.exit(2)
        self._fill(HEADER.size + size)
        body = bytes(self.buffer[HEADER.size : HEADER.size + size])
        del self.buffer[: HEADER.size + size]
        return check_host_message(parse(body))

    def send(self, message: dict[str, Any]) -> None:
        body = serialise(message)
        self.sock.sendall(HEADER.pack(len(body)) + body)

    def close(self) -> None:
        self.sock.close()


# -- values (section 6) -----------------------------------------------------------------------------------------
def decode(value: Any, shared: dict[str, Any], refs: bool = True) -> Any:
    """Protocol JSON to values: tagged objects become namespaces of their fields, references are resolved."""
    if type(value) is list:
        return [decode(v, shared, refs) for v in value]
    if type(value) is not dict:
        return value
    if TAG not in value:
        return {k: decode(v, shared, refs) for k, v in value.items()}
    tag = value[TAG]
    if tag == "ref" and set(value) == {TAG, "key"}:
        if not refs or value["key"] not in shared:
            raise ProtocolError(f"reference to unknown shared value {str(value['key'])[:40]!r}")
        return shared[value["key"]]
    if tag == "dict" and set(value) == {TAG, "value"} and type(value["value"]) is dict:
        return {k: decode(v, shared, refs) for k, v in value["value"].items()}
    if tag == "datetime" and set(value) == {TAG, "iso"} and type(value["iso"]) is str:
        try:
            return datetime.fromisoformat(value["iso"])
        except ValueError:
            raise ProtocolError(f"a datetime that is not ISO 8601: {value['iso'][:40]!r}") from None
    names = TAGGED_FIELDS.get(tag) if type(tag) is str else None
    if names is None or set(value) != {TAG, "fields"} or type(value["fields"]) is not dict:
        raise ProtocolError(f"unknown tagged value {str(tag)[:40]!r}")
    if set(value["fields"]) != set(names):
        raise ProtocolError(f"a {tag} with fields {sorted(value['fields'])}")
    return SimpleNamespace(**{k: decode(v, shared, refs) for k, v in value["fields"].items()})


def encode(value: Any) -> Any:
    """A plugin's own value as plain JSON; an object that has the tag key is escaped so it is not a tag."""
    if isinstance(value, dict):
        plain = {str(k): encode(v) for k, v in value.items()}
        return {TAG: "dict", "value": plain} if TAG in plain else plain
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise TypeError(f"{type(value).__name__} is not plain JSON")


def error_info(exc: BaseException) -> dict[str, Any]:
    info = {"type": type(exc).__name__[:100], "message": str(exc)[:2000]}
    permission = getattr(exc, "permission", None)
    if isinstance(exc, PermissionDenied) and type(permission) is str:
        info["permission"] = permission[:100]
    return info


# -- the conversation ---------------------------------------------------------------------------------------------
class Plugin:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.granted: tuple[str, tuple[str, ...]] | None = None  # (plugin_id, permissions) of the latest grant
        self.shared: dict[str, Any] = {}
        self.extensions: dict[str, Callable[..., Any]] = {}  # the full id the host answered -> function
        self.cap_ids = 0  # never reset: ids stay strictly increasing over the whole channel
        self.current = (0, 0)  # (call id, item index) being handled
        self.hooks: dict[str, Callable[..., Any]] = {
            "register_behavior": self.register_behavior,
            "on_session_updated": self.on_session_updated,
        }

    def run(self) -> None:
        while True:
            try:
                message = self.channel.receive()
            except ProtocolError:
                sys.exit(2)  # out of step with the host: close rather than guess (section 3.6)
            kind = message["type"]
            if kind == "hello":
                self.shared, self.granted = {}, None  # a new conversation: nothing is shared
                welcome = {"type": "welcome", "id": message["id"], "protocol": PROTOCOL, "manifest": MANIFEST}
                self.answer(welcome | {"hooks": HOOKS})
            elif kind == "grant":
                self.granted = (message["plugin_id"], tuple(message["permissions"]))
                self.answer({"type": "ack", "id": message["id"]})
            elif kind == "ping":
                self.answer({"type": "pong", "id": message["id"]})
            elif kind == "call":
                self.answer(self.call(message))
            elif kind == "shutdown":
                self.answer({"type": "bye", "id": message["id"]})
                self.channel.close()
                return
            else:
                sys.exit(2)  # a cap_result with no capability request outstanding

    def answer(self, message: dict[str, Any]) -> None:
        try:
            self.channel.send(message)
        except ValueError as exc:  # an answer over the cap: the call fails as a whole instead
            self.channel.send({"type": "error", "id": message["id"], "error": error_info(exc)})

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        call_id = message["id"]
        try:
            if self.granted is None:
                raise ProtocolError("a call before the grant")
            for key, value in message.get("shared", {}).items():  # before the items refer to them
                self.shared[key] = decode(value, self.shared, refs=False)
            target = self.target(message)
            results = [self.item(call_id, index, target, args) for index, args in enumerate(message["items"])]
        except (ProtocolError, LookupError) as exc:
            return {"type": "error", "id": call_id, "error": error_info(exc)}
        finally:
            for key in message.get("drop", []):  # after the items: they may refer to a dropped value
                self.shared.pop(key, None)
        return {"type": "result", "id": call_id, "results": results}

    def target(self, message: dict[str, Any]) -> Callable[..., Any]:
        if "hook" in message:
            if message["hook"] not in self.hooks:
                raise LookupError(f"this plugin does not implement hook {message['hook']!r}")
            return self.hooks[message["hook"]]
        if message["extension"] not in self.extensions:
            raise LookupError(f"this plugin has no {message['extension']!r}")
        return self.extensions[message["extension"]]

    def item(self, call_id: int, index: int, target: Callable[..., Any], args: list[Any]) -> dict[str, Any]:
        self.current = (call_id, index)
        try:
            value = encode(target(*decode(args, self.shared)))
        except Exception as exc:
            return {"ok": False, "error": error_info(exc)}
        finally:
            self.current = (0, 0)
        return {"ok": True, "value": value}

    def capability(self, capability: str, member: str, *args: Any) -> Any:
        """Ask the host to act (section 9); its answer, or the error it answered as an exception."""
        self.cap_ids += 1
        cap_id = self.cap_ids
        call_id, item = self.current
        request = {"type": "cap", "id": cap_id, "call": call_id, "item": item, "capability": capability}
        self.channel.send(request | {"member": member, "args": encode(list(args)), "kwargs": {}})
        try:
            reply = self.channel.receive()
        except ProtocolError as exc:  # section 3.6: fail this capability call and go on
            raise ProtocolError(f"the answer to capability request {cap_id} is not believed: {exc}") from None
        if reply["type"] != "cap_result" or reply["id"] != cap_id:
            raise ProtocolError(f"capability request {cap_id} was answered by a {reply['type']} {reply['id']}")
        if reply["ok"]:
            return decode(reply.get("value"), self.shared)
        error = reply["error"]
        message = error.get("message", "")
        if error["type"] == "PermissionDenied":
            raise PermissionDenied(message, error.get("permission"))
        raise HOST_ERRORS.get(error["type"], CapabilityError)(message)

    # -- the conformance profile ------------------------------------------------------------------------------
    def register_behavior(self) -> None:
        self.extensions[self.capability("behavior", "register_condition_evaluator", "is_tired")] = is_tired
        self.extensions[self.capability("behavior", "register_effect_handler", "mark_seen")] = self.mark_seen

    def mark_seen(self, params: dict[str, Any], view: SimpleNamespace) -> dict[str, Any]:
        previous = self.capability("effect", "get_flag", "seen")
        previous = 0 if previous is None else previous
        return {"flags": {"seen": previous + 1}, "relationships": {f"npc:{view.npc.id}": {"affinity": 1}}}

    def on_session_updated(self, event: SimpleNamespace) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        try:
            session = self.capability("session", "get_session", event.session.id)
            seen["session"] = None if session is None else session.version
        except PermissionDenied:
            seen["session"] = "denied"
        try:
            world = self.capability("world", "get_world", event.world_id)
            seen["world"] = None if world is None else world.name
        except PermissionDenied:
            seen["world"] = "denied"
        return seen


def is_tired(params: dict[str, Any], view: SimpleNamespace) -> bool:
    return bool(view.state.get("energy", 100) < params.get("below", 30))


def main() -> None:
    channel = Channel(int(os.environ.get("PIXSIM_PROTOCOL_FD", "3")))
    with contextlib.suppress(ConnectionError):  # the host closed its end while we wrote: exit 0 (section 2.1)
        Plugin(channel).run()
    sys.exit(0)


if __name__ == "__main__":
    main()

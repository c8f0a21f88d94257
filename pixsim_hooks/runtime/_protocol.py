"""The out-of-process plugin protocol, version 1 (``docs/plugin-protocol.md`` is its specification).

One conversation per plugin: the host sends a message, the plugin answers with exactly one message. While it
handles a ``call`` the plugin may answer with ``cap`` requests instead (a capability call back to the host); the
host answers each with ``cap_result`` and the plugin finally answers the call with ``result`` or ``error``. Over a
child process's socket the messages are frames (4-byte big-endian length, then UTF-8 JSON); over HTTP each host
message is a POST whose response body is the plugin's next message.

Everything received is checked before it is believed: size cap, strict JSON (no NaN/Infinity, no duplicate keys,
bounded nesting), then a pydantic schema per message type; and the conversation itself checks that every answer
names the outstanding request (:class:`Conversation`).
"""

from __future__ import annotations

import json
import math
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from pixsim_hooks.plugin import (
    MAX_CHILD_TRACEBACK,
    GenerationSnapshot,
    InteractionExecuted,
    LocationChanged,
    LocationSnapshot,
    NpcSnapshot,
    NpcSpawned,
    NpcView,
    PermissionDenied,
    ProtocolError,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    WorldSnapshot,
    WorldTimeAdvanced,
)

__all__ = [
    "Ack",
    "Bye",
    "Call",
    "CapRequest",
    "CapResult",
    "ErrorInfo",
    "FRAME_HEADER",
    "Failure",
    "Grant",
    "Hello",
    "HostMessage",
    "Interner",
    "ItemResult",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "OversizedMessage",
    "PROTOCOL_VERSION",
    "Ping",
    "PluginMessage",
    "Pong",
    "ROUTE_CONTEXT_KEY",
    "Result",
    "Shutdown",
    "Welcome",
    "decode_plain",
    "decode_value",
    "dumps",
    "encode_value",
    "error_info",
    "loads",
    "parse_host_message",
    "parse_plugin_message",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20
"""Default cap on one message (either direction); the host kills a child that exceeds it."""
MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a message."""
FRAME_HEADER = struct.Struct(">I")
TAG = "$pixsim"
MAX_ID = 2**53 - 1  # ids must survive a round trip through a JavaScript number (Number.MAX_SAFE_INTEGER)
ROUTE_CONTEXT_KEY = "pixsim.plugin_context"
"""The ASGI scope entry under which a plugin's route request carries that plugin's context, on either side of the
protocol: ``get_plugin_context`` reads it in the host's room and in a sandboxed child alike."""


# -- strict JSON -----------------------------------------------------------------------------------------------------
def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        dupe = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dupe[:40]!r}")
    return result


def _text_ok(text: str) -> bool:
    """No lone surrogate (a ``\\ud800`` escape parses to one): such text cannot be encoded as UTF-8 again."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _sound(value: dict[str, Any] | list[Any], levels_left: int) -> str | None:
    """Why ``value`` is refused (a container nested more than ``levels_left`` below it, a number that parsed to
    infinity, as ``1e400`` does without passing through ``parse_constant``, or text with a lone surrogate), or
    None. One walk for all three."""
    if type(value) is dict:
        if not all(_text_ok(key) for key in value):
            return "a key is not valid Unicode"
        children: Any = value.values()
    else:
        children = value
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            if levels_left < 1:
                return "nested too deeply"
            why = _sound(child, levels_left - 1)
            if why is not None:
                return why
        elif kind is float and not math.isfinite(child):
            return "a number is not finite"
        elif kind is str and not _text_ok(child):
            return "a string is not valid Unicode"
    return None


# Built once: json.loads / json.dumps with any non-default option build a new decoder / encoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_keys)
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def loads(data: bytes | str, *, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse one message strictly; :class:`ProtocolError` says why a message is refused."""
    if isinstance(data, str):
        data = data.encode()
    if len(data) > max_bytes:
        raise ProtocolError(f"message of {len(data)} bytes exceeds the {max_bytes}-byte cap")
    if data.startswith(b"\xef\xbb\xbf"):
        raise ProtocolError("message starts with a byte-order mark")
    try:
        # Decoded here, strictly: given bytes, json.loads would also guess UTF-16/32 and skip a BOM.
        value = _DECODER.decode(data.decode("utf-8"))
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(f"message is not strict JSON: {str(exc)[:200]}") from None
    if type(value) is not dict:
        raise ProtocolError("a message must be a JSON object")
    why = _sound(value, max_depth - 1)
    if why is not None:
        raise ProtocolError(f"message refused: {why} (limits: {max_depth} levels, finite numbers)")
    return value


class OversizedMessage(ValueError):
    """A message we were about to send is over the cap (nothing was sent)."""


def dumps(message: Mapping[str, Any], max_bytes: int | None = None) -> bytes:
    """Serialise a message (finite JSON only; a NaN in our own data is a bug, not something to send). With
    ``max_bytes``, a message over it raises :class:`OversizedMessage` instead of being sent to be refused."""
    body = _ENCODER.encode(message).encode()
    if max_bytes is not None and len(body) > max_bytes:
        raise OversizedMessage(f"a {message.get('type')} message of {len(body)} bytes is over the {max_bytes}-byte cap")
    return body


# -- message schemas ------------------------------------------------------------------------------------------------
class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


MessageId = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class ErrorInfo(_Message):
    """An error as it crosses the channel: its class name, message and, for a denial, the permission; from the
    plugin, optionally the traceback its process formatted (text for the host's log, never shown to clients)."""

    type: Annotated[str, Field(max_length=100)]
    message: Annotated[str, Field(max_length=2000)] = ""
    permission: Annotated[str, Field(max_length=100)] | None = None
    traceback: Annotated[str, Field(max_length=MAX_CHILD_TRACEBACK)] | None = None


class _Outcome(_Message):
    """``ok`` with a ``value``, or not ok with an ``error``: never both, never neither."""

    ok: bool
    value: Any = None
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _error_iff_failed(self) -> _Outcome:
        if self.ok == (self.error is not None):
            raise ValueError("an answer carries an error exactly when ok is false")
        return self


def error_info(exc: BaseException) -> dict[str, Any]:
    """An exception as an :class:`ErrorInfo` crosses the channel: its class name and message (bounded), and for
    any denial the type ``PermissionDenied`` with the permission, so that either side can raise a denial again."""
    info: dict[str, Any] = {"type": type(exc).__name__[:100], "message": str(exc)[:2000]}
    if isinstance(exc, PermissionDenied):
        info["type"] = "PermissionDenied"
        if exc.permission is not None:
            info["permission"] = str(exc.permission)[:100]
    return info


class ItemResult(_Outcome):
    pass


# host -> plugin
class Hello(_Message):
    """Opens the conversation; the plugin answers :class:`Welcome` (its manifest and hooks)."""

    type: Literal["hello"]
    id: MessageId
    protocol: int


class Grant(_Message):
    """The host's decision after the welcome: the plugin's id and the permissions it was granted."""

    type: Literal["grant"]
    id: MessageId
    plugin_id: Name
    permissions: list[Name]


class Call(_Message):
    """Call one hook (``hook``), one registered extension (``extension``) or one of the plugin's routers
    (``route``: the hook that provided it, each item one HTTP request) once per item of ``items`` (a batch)."""

    type: Literal["call"]
    id: MessageId
    hook: Name | None = None
    extension: Name | None = None
    route: Name | None = None
    items: list[list[Any]]
    shared: dict[str, Any] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> Call:
        if [self.hook, self.extension, self.route].count(None) != 2:
            raise ValueError("a call names exactly one of hook, extension and route")
        return self


class CapResult(_Outcome):
    type: Literal["cap_result"]
    id: MessageId


class Ping(_Message):
    type: Literal["ping"]
    id: MessageId


class Shutdown(_Message):
    type: Literal["shutdown"]
    id: MessageId


# plugin -> host
class Welcome(_Message):
    type: Literal["welcome"]
    id: MessageId
    protocol: int
    manifest: dict[str, Any]
    hooks: list[Name]


class Result(_Message):
    type: Literal["result"]
    id: MessageId
    results: list[ItemResult]


class Failure(_Message):
    type: Literal["error"]
    id: MessageId
    error: ErrorInfo


class CapRequest(_Message):
    """A capability call from the plugin, made while it handles call ``call`` (batch item ``item``)."""

    type: Literal["cap"]
    id: MessageId
    call: MessageId
    item: Annotated[int, Field(ge=0)] | None = None
    capability: Name
    member: Name
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class Ack(_Message):
    type: Literal["ack"]
    id: MessageId


class Pong(_Message):
    type: Literal["pong"]
    id: MessageId


class Bye(_Message):
    type: Literal["bye"]
    id: MessageId


HostMessage = Annotated[Hello | Grant | Call | CapResult | Ping | Shutdown, Field(discriminator="type")]
PluginMessage = Annotated[Welcome | Ack | Result | Failure | CapRequest | Pong | Bye, Field(discriminator="type")]
_HOST: TypeAdapter[HostMessage] = TypeAdapter(HostMessage)
_PLUGIN: TypeAdapter[PluginMessage] = TypeAdapter(PluginMessage)


def _parse(adapter: TypeAdapter[Any], data: dict[str, Any]) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<message>"
        raise ProtocolError(f"invalid message at {where[:100]}: {first['msg'][:200]}") from None


def parse_plugin_message(data: dict[str, Any]) -> PluginMessage:
    """Validate a message the plugin sent (the host side)."""
    return _parse(_PLUGIN, data)  # type: ignore[no-any-return]


def parse_host_message(data: dict[str, Any]) -> HostMessage:
    """Validate a message the host sent (the plugin side)."""
    return _parse(_HOST, data)  # type: ignore[no-any-return]


# -- values: host objects as JSON and back --------------------------------------------------------------------------
_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        NpcView,
        NpcSnapshot,
        SessionSnapshot,
        WorldSnapshot,
        LocationSnapshot,
        GenerationSnapshot,
        SessionCreated,
        SessionUpdated,
        InteractionExecuted,
        NpcSpawned,
        LocationChanged,
        WorldTimeAdvanced,
    )
}
_INTERNED = (SessionSnapshot, WorldSnapshot)  # big, and the same object for every NPC of a tick


class Interner:
    """Sends big shared values (a tick's session, its world meta) once per connection, then by reference.

    The host keeps the object (so its ``id`` cannot be reused while cached) and its key; the plugin side keeps the
    decoded value under the same key until a message ``drop``s it. Reset when the channel is replaced."""

    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        self._cache: OrderedDict[int, tuple[str, object]] = OrderedDict()
        self._counter = 0
        self.new: dict[str, Any] = {}
        self.dropped: list[str] = []

    def ref(self, obj: object, encode: Callable[[object], Any]) -> dict[str, Any]:
        hit = self._cache.get(id(obj))
        if hit is not None and hit[1] is obj:
            self._cache.move_to_end(id(obj))
            return {TAG: "ref", "key": hit[0]}
        self._counter += 1
        key = f"s{self._counter}"
        self.new[key] = encode(obj)
        self._cache[id(obj)] = (key, obj)
        while len(self._cache) > self._capacity:
            _, (old, _) = self._cache.popitem(last=False)
            self.dropped.append(old)
        return {TAG: "ref", "key": key}

    def untake(self, new: dict[str, Any], dropped: list[str]) -> None:
        """A message that took these was never sent: forget its new values, and drop its drops with the next."""
        for obj_id, (key, _) in list(self._cache.items()):
            if key in new:
                del self._cache[obj_id]
        self.dropped[:0] = dropped

    def take(self) -> tuple[dict[str, Any], list[str]]:
        """What the next message must carry: new shared values and keys to drop."""
        new, dropped = self.new, self.dropped
        self.new, self.dropped = {}, []
        return new, dropped

    def reset(self) -> None:
        self._cache.clear()
        self.new, self.dropped = {}, []


def encode_value(value: Any, interner: Interner | None = None) -> Any:
    """A host value as protocol JSON: plain JSON as it is, snapshots / views / events tagged with their type."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("non-finite number cannot cross the protocol")
        return value
    if isinstance(value, (dict, Mapping)):
        if TAG in value:  # plain data that happens to use our tag key: wrapped so it cannot be mistaken
            return {TAG: "dict", "value": {str(k): encode_value(v, interner) for k, v in value.items()}}
        return {str(k): encode_value(v, interner) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [encode_value(v, interner) for v in value]
    if kind is datetime:
        return {TAG: "datetime", "iso": value.isoformat()}
    if is_dataclass(value) and kind.__name__ in _TYPES:
        if interner is not None and isinstance(value, _INTERNED):
            return interner.ref(value, lambda obj: _encode_dataclass(obj, None))
        return _encode_dataclass(value, interner)
    raise TypeError(f"{kind.__name__} cannot cross the protocol")


def _encode_dataclass(value: Any, interner: Interner | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(value):
        item = getattr(value, f.name)
        if f.name == "world_meta" and interner is not None:
            out[f.name] = interner.ref(item, lambda obj: encode_value(obj))
        else:
            out[f.name] = encode_value(item, interner)
    return {TAG: type(value).__name__, "fields": out}


def decode_plain(value: Any) -> Any:
    """What a plugin sent, as plain data (the host side): only the ``dict`` escape is undone. A plugin's tagged
    objects are never rebuilt into host objects: they stay the plain JSON they are."""
    if type(value) is list:
        return [decode_plain(v) for v in value]
    if type(value) is not dict:
        return value
    if value.get(TAG) == "dict" and type(value.get("value")) is dict and len(value) == 2:
        value = value["value"]
    return {k: decode_plain(v) for k, v in value.items()}


def decode_value(value: Any, shared: Mapping[str, Any] | None = None) -> Any:
    """Protocol JSON back to values (the plugin side): tagged objects rebuilt, references resolved."""
    if type(value) is list:
        return [decode_value(v, shared) for v in value]
    if type(value) is not dict:
        return value
    tag = value.get(TAG)
    if tag is None:
        return {k: decode_value(v, shared) for k, v in value.items()}
    if tag == "ref":
        if shared is None or value.get("key") not in shared:
            raise ProtocolError(f"reference to unknown shared value {str(value.get('key'))[:40]!r}")
        return shared[value["key"]]
    if tag == "dict":
        return {k: decode_value(v, shared) for k, v in value["value"].items()}
    if tag == "datetime":
        return datetime.fromisoformat(value["iso"])
    cls = _TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None or type(value.get("fields")) is not dict:
        raise ProtocolError(f"unknown tagged value {str(tag)[:40]!r}")
    try:
        return cls(**{k: decode_value(v, shared) for k, v in value["fields"].items()})
    except TypeError as exc:
        raise ProtocolError(f"bad {tag} value: {exc}") from None

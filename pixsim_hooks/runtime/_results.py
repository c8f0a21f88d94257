"""What an out-of-process plugin answers, checked before the host uses any of it (DESIGN decision 15; red-team 23, 37).

The protocol parser has already refused what is not strict JSON (NaN, ``1e400``, duplicate keys, nesting over 32
levels, a message over the cap). What it lets through can still be wrong for what the host asked: a 400-digit
integer is valid JSON, and ``math.isfinite(10**400)`` raises OverflowError in whoever trusted it to be a number. So
the host-side stand-ins check every value against the contract of the hook or extension kind that asked for it
(``hookspecs``, :mod:`pixsim_hooks.plugin._behavior_types`), by exact type and range, before handing it on:

=============================== =====================================================================================
condition                       exactly ``true`` or ``false``
scoring factor                  a number (not a boolean), finite, ``0 <= x <= MAX_FACTOR``; handed on as a float
effect                          ``{"flags": {key: value}, "relationships": {"npc:<id>": {metric: delta}}}``, either key
                                optional: keys 1..200 characters, values JSON with integers within ±(2**53 - 1),
                                canonical NPC keys, known metrics, finite deltas within ±100
``suggest_activities``          null, or an array of at most ``MAX_SUGGESTIONS`` strings of 1..``MAX_SUGGESTION_CHARS``
``provide_simulation_defaults`` null, or an object (its fields are then validated as simulationConfig by the engine)
``provide_router``,             (a sandboxed child) the shapes of its routes: at most ``MAX_ROUTES`` of
``provide_admin_router``        ``{"path", "methods", "name"}``, a path of printable ASCII starting with ``/``, methods
                                as HTTP method names
a forwarded request             ``{"kind": "response", "status", "headers", "body"}`` (status 100..599, headers as
                                HTTP field names and values without control characters, body base64), or the HTTP
                                error the route raised (``http_error``: status 400..599, detail; ``validation_error``)
lifecycle and event hooks,      ignored: the hookspecs say "Return: ignored", and a plugin in another language
``register_behavior``           answers whatever its function returned (the conformance profile's
                                ``on_session_updated`` answers an object); nothing of it reaches the host
=============================== =====================================================================================

A value that fails is the plugin's failure: :class:`~pixsim_hooks.plugin.RemotePluginError` with ``error_type``
``"InvalidResult"``, raised inside the plugin's isolated call, so the dispatch loop records it against the plugin
(outcome ``error``) and the caller gets its fallback (False, the neutral 1.0, no writes, nothing suggested). The
child is not killed for it: its channel is in step, only its code answered out of contract. Messages describe the
value (its type and size), never quote it at length: it is the plugin's, and it may be huge.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hookspecs
from pixsim_hooks.plugin import (
    MAX_FACTOR,
    MAX_RELATIONSHIP_DELTA,
    RELATIONSHIP_METRICS,
    RemotePluginError,
    checked_npc_key,
    checked_relationship,
    factor_value,
)

__all__ = [
    "HOOKS",
    "INVALID_RESULT",
    "MAX_FACTOR",
    "MAX_FLAG_KEY_CHARS",
    "MAX_ROUTES",
    "MAX_SAFE_INTEGER",
    "MAX_SUGGESTIONS",
    "MAX_SUGGESTION_CHARS",
    "RouteAnswer",
    "RouteShape",
    "StagedAnswer",
    "check_condition",
    "check_effect",
    "check_hook",
    "check_route_answer",
    "check_route_shapes",
    "check_scoring_factor",
    "extension_check",
]

INVALID_RESULT = "InvalidResult"
"""The ``error_type`` of the :class:`RemotePluginError` a value out of contract becomes."""
MAX_SUGGESTIONS = 100
"""Suggested activity ids per answer: more than a world could usefully offer one NPC at once."""
MAX_SUGGESTION_CHARS = 200
"""Characters in one suggested activity id (the engine's ids are short: ``activity:<slug>``)."""
MAX_FLAG_KEY_CHARS = 200
"""Characters in one flag key, as the host's writer allows (``namespaced_key``)."""
MAX_SAFE_INTEGER = 2**53 - 1
"""Integers in a flag value: the session is stored and served as JSON, and its readers (the game client, plugins in
other languages) hold numbers as doubles, exact only up to 2**53 - 1."""

StagedAnswer = tuple[dict[str, Any], dict[str, dict[str, float]]]
Check = Callable[[str, str, Any], Any]


def _refuse(plugin_id: str, what: str, value: Any, expected: str) -> RemotePluginError:
    message = f"plugin {plugin_id!r}: {what} answered {_describe(value)}, not {expected}; counted as its fallback"
    return RemotePluginError(message, plugin_id=plugin_id, error_type=INVALID_RESULT)


def _describe(value: Any) -> str:
    """What the value is, in a few words: its type and size, never the whole of it."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return f"the boolean {'true' if value else 'false'}"
    if kind is int:
        digits = len(str(abs(value)))  # at most 4300 digits: the parser refuses longer integers
        return f"the integer {value}" if digits <= 20 else f"an integer of {digits} digits"
    if kind is float:
        return f"the number {value!r}"
    if kind is str:
        return f"a string of {len(value)} characters"
    if kind is list:
        return f"an array of {len(value)} items"
    if kind is dict:
        return f"an object of {len(value)} keys"
    return f"a {kind.__name__}"  # not JSON: never produced by the parser, refused all the same


# -- behavior extensions ---------------------------------------------------------------------------------------------
def check_condition(plugin_id: str, what: str, value: Any) -> bool:
    if type(value) is not bool:
        raise _refuse(plugin_id, what, value, "true or false")
    return value


def check_scoring_factor(plugin_id: str, what: str, value: Any) -> float:
    factor = factor_value(value)  # the rule in-process factors are held to as well
    if factor is None:
        raise _refuse(plugin_id, what, value, f"a finite number from 0 to {MAX_FACTOR:g}")
    return factor


def check_effect(plugin_id: str, what: str, value: Any) -> StagedAnswer:
    """An effect's staged writes, whole: nothing of it is applied unless all of it holds."""
    if type(value) is not dict or not set(value) <= {"flags", "relationships"}:
        raise _refuse(plugin_id, what, value, 'an object with only "flags" and "relationships"')
    flags, relationships = value.get("flags", {}), value.get("relationships", {})
    if type(flags) is not dict or type(relationships) is not dict:
        raise _refuse(plugin_id, what, value, "objects under flags and relationships")
    for key, flag in flags.items():
        if not 1 <= len(key) <= MAX_FLAG_KEY_CHARS:
            raise _refuse(plugin_id, f"{what} (a flag key)", key, f"1 to {MAX_FLAG_KEY_CHARS} characters")
        if not _safe_json(flag):
            raise _refuse(plugin_id, f"{what} (flag {key[:60]!r})", flag, "JSON with integers within ±(2**53 - 1)")
    return flags, {npc: _deltas(plugin_id, what, npc, metrics) for npc, metrics in relationships.items()}


def _deltas(plugin_id: str, what: str, npc_key: str, metrics: Any) -> dict[str, float]:
    try:
        checked_npc_key(npc_key)
    except ValueError:
        raise _refuse(plugin_id, f"{what} (a relationship key)", npc_key, '"npc:<id>" in ASCII digits') from None
    if type(metrics) is not dict:
        raise _refuse(plugin_id, f"{what} ({npc_key[:60]!r})", metrics, "an object of metric to delta")
    deltas: dict[str, float] = {}
    for metric, delta in metrics.items():
        try:  # the very check an in-process writer applies: one rule for the key, the metric and the bound
            _, _, deltas[metric] = checked_relationship(npc_key, metric, delta, MAX_RELATIONSHIP_DELTA)
        except ValueError:
            if metric not in RELATIONSHIP_METRICS:
                raise _refuse(
                    plugin_id, f"{what} ({npc_key})", metric, f"one of {sorted(RELATIONSHIP_METRICS)}"
                ) from None
            bound = f"a finite number within ±{MAX_RELATIONSHIP_DELTA:g}"
            raise _refuse(plugin_id, f"{what} ({npc_key} {metric})", delta, bound) from None
    return deltas


def _safe_json(value: Any) -> bool:
    """Plain JSON (as parsed: dict, list, str, int, float, bool, None) whose integers a double holds exactly.
    Recursion is bounded: the parser refuses messages nested over 32 levels."""
    kind = type(value)
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(_safe_json(v) for v in value.values())
    if kind is list:
        return all(_safe_json(v) for v in value)
    return value is None or kind is bool or kind is str


_EXTENSIONS: dict[str, Check] = {
    "register_condition_evaluator": check_condition,
    "register_scoring_factor": check_scoring_factor,
    "register_effect_handler": check_effect,
}


def extension_check(member: str) -> Check:
    """The check for what an extension registered through ``behavior.<member>`` answers."""
    return _EXTENSIONS[member]


# -- hooks -------------------------------------------------------------------------------------------------------
def _suggestions(plugin_id: str, what: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    expected = f"null or at most {MAX_SUGGESTIONS} activity ids of 1 to {MAX_SUGGESTION_CHARS} characters"
    if type(value) is not list or len(value) > MAX_SUGGESTIONS:
        raise _refuse(plugin_id, what, value, expected)
    for item in value:
        if type(item) is not str or not 1 <= len(item) <= MAX_SUGGESTION_CHARS:
            raise _refuse(plugin_id, f"{what} (an item)", item, expected)
    return value


def _defaults(plugin_id: str, what: str, value: Any) -> dict[str, Any] | None:
    if value is not None and type(value) is not dict:
        raise _refuse(plugin_id, what, value, "null or an object (a partial simulationConfig)")
    return value


def _ignored(plugin_id: str, what: str, value: Any) -> None:
    return None


def _unknown(plugin_id: str, what: str, value: Any) -> None:
    """A hook this table does not know: nothing it answers is believed (fail closed)."""
    if value is not None:
        raise _refuse(plugin_id, what, value, "null (the host does not know this hook's contract)")


# The hooks whose answer the host never uses (lifecycle, registration, events: their specs return None), read from
# the hookspecs themselves, so a new one of them is known here at once; whatever else is unknown fails closed.
_IGNORED = tuple(
    name
    for module in hookspecs.SPEC_MODULES
    for name in module.__all__
    if inspect.signature(getattr(module, name)).return_annotation == "None"
)
HOOKS: dict[str, Check] = {
    "suggest_activities": _suggestions,
    "provide_simulation_defaults": _defaults,
    **dict.fromkeys(_IGNORED, _ignored),
}
"""The check of each hook's answer, by hook name (every hook a plugin may implement out of process)."""


def check_hook(hook: str, plugin_id: str, value: Any) -> Any:
    """What the host may use of ``value``, the answer of ``plugin_id``'s ``hook``; RemotePluginError if none."""
    check: Check = HOOKS.get(hook, _unknown)
    return check(plugin_id, hook, value)


# -- routes (a sandboxed child's routers) ---------------------------------------------------------------------------
MAX_ROUTES = 200
"""Routes one router of a sandboxed plugin may declare (the host builds a forwarding route for each)."""
_PATH = re.compile(r"/[\x21-\x7e]{0,999}")  # printable ASCII: a pattern as Starlette compiles it
_METHOD = re.compile(r"[A-Z]{1,20}")
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")  # an HTTP token (RFC 9110)
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]{0,8000}")  # no CR, LF or NUL: one header stays one header
MAX_HEADERS = 100
MAX_ERRORS = 100


@dataclass(frozen=True, slots=True)
class RouteShape:
    """One route of a sandboxed plugin's router, as the host forwards it."""

    path: str
    methods: tuple[str, ...]
    name: str


@dataclass(frozen=True, slots=True)
class RouteAnswer:
    """What a sandboxed plugin's route answered: a response, or the HTTP error it raised (``http_error``: a status
    and detail; ``validation_error``: the request's validation errors), for the host to render as in-process."""

    kind: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    detail: str = ""
    errors: tuple[dict[str, Any], ...] = ()


def check_route_shapes(plugin_id: str, hook: str, value: Any) -> tuple[RouteShape, ...]:
    """The routes a child says its router from ``hook`` serves."""
    expected = f"at most {MAX_ROUTES} routes of path, methods and name"
    if type(value) is not list or len(value) > MAX_ROUTES:
        raise _refuse(plugin_id, hook, value, expected)
    shapes = []
    for item in value:
        if type(item) is not dict or set(item) != {"path", "methods", "name"}:
            raise _refuse(plugin_id, f"{hook} (a route)", item, "an object of path, methods and name")
        path, methods, name = item["path"], item["methods"], item["name"]
        if type(path) is not str or _PATH.fullmatch(path) is None:
            raise _refuse(plugin_id, f"{hook} (a path)", path, "printable ASCII starting with / (1000 at most)")
        if type(methods) is not list or not 1 <= len(methods) <= 10:
            raise _refuse(plugin_id, f"{hook} ({path[:60]})", methods, "1 to 10 HTTP methods")
        for method in methods:
            if type(method) is not str or _METHOD.fullmatch(method) is None:
                raise _refuse(plugin_id, f"{hook} ({path[:60]})", method, "an HTTP method name")
        if type(name) is not str or len(name) > MAX_SUGGESTION_CHARS:
            raise _refuse(plugin_id, f"{hook} ({path[:60]})", name, f"a name of {MAX_SUGGESTION_CHARS} at most")
        shapes.append(RouteShape(path, tuple(methods), name))
    return tuple(shapes)


def check_route_answer(plugin_id: str, what: str, value: Any) -> RouteAnswer:
    """What a child's route answered to one forwarded request."""
    if type(value) is not dict:
        raise _refuse(plugin_id, what, value, "an object")
    kind = value.get("kind")
    if kind == "response" and set(value) == {"kind", "status", "headers", "body"}:
        status = _status(plugin_id, what, value["status"], 100)
        headers = _headers(plugin_id, what, value["headers"])
        body = value["body"]
        try:
            raw = base64.b64decode(body, validate=True) if type(body) is str else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            raise _refuse(plugin_id, f"{what} (its body)", body, "base64 text")
        return RouteAnswer("response", status, headers, raw)
    if kind == "http_error" and set(value) == {"kind", "status", "detail", "headers"}:
        detail = value["detail"]
        if type(detail) is not str or len(detail) > 2000:
            raise _refuse(plugin_id, f"{what} (its detail)", detail, "text of 2000 characters at most")
        status = _status(plugin_id, what, value["status"], 400)
        return RouteAnswer("http_error", status, _headers(plugin_id, what, value["headers"]), detail=detail)
    if kind == "validation_error" and set(value) == {"kind", "errors"}:
        return RouteAnswer("validation_error", 422, errors=_errors(plugin_id, what, value["errors"]))
    raise _refuse(plugin_id, what, value, "a response, an http_error or a validation_error")


def _status(plugin_id: str, what: str, status: Any, lowest: int) -> int:
    if type(status) is not int or not lowest <= status <= 599:
        raise _refuse(plugin_id, f"{what} (its status)", status, f"an integer from {lowest} to 599")
    return int(status)


def _headers(plugin_id: str, what: str, headers: Any) -> tuple[tuple[str, str], ...]:
    if type(headers) is not list or len(headers) > MAX_HEADERS:
        raise _refuse(plugin_id, f"{what} (its headers)", headers, f"at most {MAX_HEADERS} name and value pairs")
    pairs = []
    for pair in headers:
        ok = type(pair) is list and len(pair) == 2 and all(type(part) is str for part in pair)
        if not ok or _FIELD_NAME.fullmatch(pair[0]) is None or _FIELD_VALUE.fullmatch(pair[1]) is None:
            raise _refuse(plugin_id, f"{what} (a header)", pair, "an HTTP field name and a value on one line")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _loc_part(part: Any) -> bool:
    if type(part) is int:
        return bool(0 <= part <= MAX_SAFE_INTEGER)
    return type(part) is str and len(part) <= 200


def _errors(plugin_id: str, what: str, errors: Any) -> tuple[dict[str, Any], ...]:
    if type(errors) is not list or len(errors) > MAX_ERRORS:
        raise _refuse(plugin_id, f"{what} (its errors)", errors, f"at most {MAX_ERRORS} validation errors")
    checked = []
    for error in errors:
        ok = type(error) is dict and set(error) == {"loc", "msg", "type"}
        ok = ok and type(error["loc"]) is list and len(error["loc"]) <= 32
        ok = ok and all(_loc_part(part) for part in error["loc"])
        ok = ok and type(error["msg"]) is str and len(error["msg"]) <= 2000
        ok = ok and type(error["type"]) is str and len(error["type"]) <= 200
        if not ok:
            raise _refuse(plugin_id, f"{what} (a validation error)", error, "loc, msg and type")
        checked.append({"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]})
    return tuple(checked)

"""Capability facades: the host-side objects behind ``ctx.world``, ``ctx.session``, ``ctx.npc``, ``ctx.generation``.

Each facade is bound to one plugin id when the host builds the plugin's context, so identity never comes from
arguments. Reads return immutable snapshots; writes check namespace and world enablement, then go through the
store as one atomic, version-checked change. Plugins never see these objects: they reach them through
capability proxies whose allowlists come from the plugin's permissions (see :mod:`pixsim_hooks.plugin._permissions`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pixsim_hooks.plugin._exceptions import NamespaceViolation, NotFoundError
from pixsim_hooks.plugin._frozen import FrozenDict
from pixsim_hooks.plugin._snapshots import (
    GenerationRequest,
    GenerationSnapshot,
    LocationSnapshot,
    NpcSnapshot,
    SessionChange,
    SessionSnapshot,
    WorldSnapshot,
)
from pixsim_hooks.plugin._storage import Storage

__all__ = [
    "MAX_ID",
    "MAX_RELATIONSHIP_DELTA",
    "GenerationCapability",
    "LogCapability",
    "MAX_VALUE_BYTES",
    "NpcCapability",
    "RELATIONSHIP_METRICS",
    "SessionCapability",
    "WorldCapability",
    "WorldCheck",
    "checked_id",
    "checked_json",
    "checked_npc_key",
    "checked_relationship",
    "namespaced_key",
]

RELATIONSHIP_METRICS = frozenset({"affinity", "trust", "chemistry", "tension"})
MAX_RELATIONSHIP_DELTA = 100.0
MAX_VALUE_BYTES = 64 * 1024

WorldCheck = Callable[[str, int], Awaitable[None]]
"""``check(plugin_id, world_id)`` raises PluginNotEnabled unless the plugin may act on that world now."""


# What a plugin hands in is checked by exact type and through ``str``'s own methods, never the value's: a ``str``
# subclass can make ``startswith``, ``__eq__`` or ``__hash__`` say anything (red-team item 36).
_NPC_KEY = re.compile(r"npc:(?:0|[1-9][0-9]{0,17})", re.ASCII)
MAX_ID = 2**63 - 1  # what the database stores (signed 64-bit)


def namespaced_key(plugin_id: str, key: str, *, capability: str = "session", member: str = "set_flag") -> str:
    """``"x"`` → ``"plugin:<id>:x"``; a key already in the plugin's own namespace is kept; any other is refused."""
    if type(key) is not str or not key or len(key) > 200:
        raise ValueError("a flag key must be a non-empty str of at most 200 characters")
    own = f"plugin:{plugin_id}:"
    if str.startswith(key, own):
        if len(key) == len(own):
            raise ValueError("a flag key must name something after the namespace")
        return key
    if str.startswith(key, "plugin:"):  # another plugin's namespace (red-team item 19)
        raise NamespaceViolation(plugin_id, capability, member, key)
    return own + key


def checked_id(value: Any, what: str = "id") -> int:
    """A row id as the store takes it: exactly an ``int`` (not a bool, not a subclass), 1 to 2**63 - 1."""
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise ValueError(f"{what} must be an int from 1 to {MAX_ID}")
    return value


def checked_npc_key(npc_key: Any) -> str:
    """``"npc:<id>"`` exactly: a ``str`` (not a subclass), ``npc:`` and ASCII digits, no sign, no leading zero,
    nothing after (so one NPC has one key)."""
    if type(npc_key) is not str or _NPC_KEY.fullmatch(npc_key) is None:
        raise ValueError("npc_key must look like 'npc:<id>'")
    return npc_key


def checked_relationship(npc_key: Any, metric: Any, delta: Any, bound: float) -> tuple[str, str, float]:
    """``("npc:<id>", metric, delta)`` once each is what it must be: the key as :func:`checked_npc_key` has it,
    one of the four metrics, an int or float (not a bool) within ``±bound``."""
    checked_npc_key(npc_key)
    if type(metric) is not str or metric not in RELATIONSHIP_METRICS:
        raise ValueError(f"metric must be one of {sorted(RELATIONSHIP_METRICS)}")
    if type(delta) is int:
        if abs(delta) > bound:  # before any float(): a 400-digit int would overflow it
            raise ValueError(f"delta must be between -{bound:g} and {bound:g}")
    elif type(delta) is not float or not math.isfinite(delta):
        raise ValueError("delta must be a finite number")
    elif abs(delta) > bound:
        raise ValueError(f"delta must be between -{bound:g} and {bound:g}")
    return npc_key, metric, float(delta)


def _frozen_items(value: object) -> object:
    # Values a plugin was handed (FrozenDict) may be written back as they are; any other non-JSON object may not.
    if type(value) is FrozenDict:
        return dict(value.items())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Built once: json.dumps with any non-default option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_frozen_items)


def checked_json(value: Any) -> Any:
    """Refuse values that are not plain, finite JSON or that exceed the size cap; return a normalised copy.

    Plain JSON types and the frozen values plugins are handed (:class:`FrozenDict`, tuples) are accepted."""
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"value is not plain finite JSON: {exc}") from None
    if len(text) > MAX_VALUE_BYTES:
        raise ValueError(f"value is larger than {MAX_VALUE_BYTES} bytes of JSON")
    return json.loads(text)


class WorldCapability:
    """``ctx.world`` — read worlds and their locations (``world:read``)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def get_world(self, world_id: int) -> WorldSnapshot | None:
        return await self._storage.worlds.get_world(checked_id(world_id, "world_id"))

    async def get_location(self, location_id: int) -> LocationSnapshot | None:
        return await self._storage.worlds.get_location(checked_id(location_id, "location_id"))

    async def list_locations(self, world_id: int) -> tuple[LocationSnapshot, ...]:
        return await self._storage.worlds.list_locations(checked_id(world_id, "world_id"))


class NpcCapability:
    """``ctx.npc`` — read NPCs (``npc:read``)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def get_npc(self, npc_id: int) -> NpcSnapshot | None:
        return await self._storage.npcs.get_npc(checked_id(npc_id, "npc_id"))

    async def list_npcs(self, world_id: int) -> tuple[NpcSnapshot, ...]:
        return await self._storage.npcs.list_npcs(checked_id(world_id, "world_id"))


class SessionCapability:
    """``ctx.session`` — read sessions (``session:read``); write the plugin's own flags and relationship metrics
    (``session:write``), only in worlds that have enabled the plugin."""

    def __init__(
        self,
        plugin_id: str,
        storage: Storage,
        check_world: WorldCheck,
        report: Callable[[NamespaceViolation], None],
    ) -> None:
        self._plugin_id = plugin_id
        self._storage = storage
        self._check_world = check_world
        self._report = report

    def _key(self, key: str, member: str) -> str:
        try:
            return namespaced_key(self._plugin_id, key, member=member)
        except NamespaceViolation as exc:
            self._report(exc)
            raise

    async def get_session(self, session_id: int) -> SessionSnapshot | None:
        return await self._storage.sessions.get_session(checked_id(session_id, "session_id"))

    async def get_flag(self, session_id: int, key: str, default: Any = None) -> Any:
        """Read one of the plugin's own flags (``key`` is namespaced like in :meth:`set_flag`)."""
        full = self._key(key, "get_flag")
        session = await self._require(session_id)
        return session.flags.get(full, default)

    async def set_flag(self, session_id: int, key: str, value: Any) -> SessionSnapshot:
        """Set ``flags["plugin:<id>:<key>"]`` atomically. Values must be finite JSON under 64 KiB."""
        full = self._key(key, "set_flag")
        return await self._write(session_id, SessionChange(set_flags={full: checked_json(value)}))

    async def set_flags(
        self, session_id: int, values: Mapping[str, Any], *, expected_version: int | None = None
    ) -> SessionSnapshot:
        """Set several of the plugin's flags in one atomic write.

        With ``expected_version`` the write applies only if the session is still at that version (else
        StaleWriteError, nothing written): read, compute, write back — a compare-and-set without lost updates.
        """
        if not isinstance(values, Mapping) or not values:
            raise ValueError("values must be a non-empty mapping of flag keys to values")
        staged = {self._key(key, "set_flags"): checked_json(value) for key, value in values.items()}
        pinned = None if expected_version is None else checked_id(expected_version, "expected_version")
        return await self._write(session_id, SessionChange(set_flags=staged, expected_version=pinned))

    async def delete_flag(self, session_id: int, key: str) -> SessionSnapshot:
        full = self._key(key, "delete_flag")
        return await self._write(session_id, SessionChange(delete_flags=(full,)))

    async def adjust_relationship(self, session_id: int, npc_key: str, metric: str, delta: float) -> SessionSnapshot:
        """Add ``delta`` (finite, at most 100 in size) to ``relationships[npc_key][metric]``."""
        key, metric, amount = checked_relationship(npc_key, metric, delta, MAX_RELATIONSHIP_DELTA)
        change = SessionChange(relationship_deltas={key: {metric: amount}})
        return await self._write(session_id, change)

    async def _require(self, session_id: int) -> SessionSnapshot:
        session = await self._storage.sessions.get_session(checked_id(session_id, "session_id"))
        if session is None:
            raise NotFoundError(f"session {session_id} does not exist")
        return session

    async def _write(self, session_id: int, change: SessionChange) -> SessionSnapshot:
        session = await self._require(session_id)
        await self._check_world(self._plugin_id, session.world_id)
        return await self._storage.sessions.apply_change(session_id, change)


class GenerationCapability:
    """``ctx.generation`` — submit and read generation requests (``generation:submit``)."""

    def __init__(self, plugin_id: str, storage: Storage, check_world: WorldCheck) -> None:
        self._plugin_id = plugin_id
        self._storage = storage
        self._check_world = check_world

    async def submit(
        self, prompt: str, *, world_id: int | None = None, params: Mapping[str, Any] | None = None
    ) -> GenerationSnapshot:
        if type(prompt) is not str or not prompt.strip() or len(prompt) > 4000:
            raise ValueError("prompt must be a non-empty string of at most 4000 characters")
        if world_id is not None:
            await self._check_world(self._plugin_id, checked_id(world_id, "world_id"))
        request = GenerationRequest(
            prompt=prompt,
            requested_by=f"plugin:{self._plugin_id}",
            world_id=world_id,
            params=checked_json(dict(params or {})),
        )
        return await self._storage.generations.submit(request)

    async def get(self, generation_id: int) -> GenerationSnapshot | None:
        return await self._storage.generations.get(checked_id(generation_id, "generation_id"))


class LogCapability:
    """``ctx.log`` — structured logs bound to the plugin id (``log:emit``). Plugins cannot rebind ``plugin_id``."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def debug(self, event: str, **fields: Any) -> None:
        self._logger.debug(event, **_own_fields(fields))

    def info(self, event: str, **fields: Any) -> None:
        self._logger.info(event, **_own_fields(fields))

    def warning(self, event: str, **fields: Any) -> None:
        self._logger.warning(event, **_own_fields(fields))

    def error(self, event: str, **fields: Any) -> None:
        self._logger.error(event, **_own_fields(fields))


def _own_fields(fields: dict[str, Any]) -> dict[str, Any]:
    # A plugin may not pass itself off as another in the logs: its fields never replace the bound plugin_id.
    return {(f"field_{k}" if k in {"plugin_id", "plugin", "event"} else k): v for k, v in fields.items()}

"""What the NPC behavior engine hands to plugins' conditions, effects and scoring factors.

- a condition evaluator is ``fn(ctx, params, view) -> bool`` (a coroutine is awaited; any non-``bool`` result,
  however truthy, counts as False);
- an effect handler is ``fn(ctx, params, view, writer) -> None`` and writes only through its :class:`EffectWriter`
  (``set_flag``, ``adjust_relationship``; ``get_flag`` reads a flag of its own as the tick has it so far);
- a scoring factor is ``fn(ctx, activity, view) -> float``, a multiplier (non-finite, negative or non-numbers count
  as the neutral 1.0 and are recorded against the plugin).

``view`` is an :class:`NpcView`: read-only data for one NPC's decision. ``params`` and ``activity`` are read-only
mappings of the world's JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from pixsim_hooks.plugin._capabilities import (
    MAX_RELATIONSHIP_DELTA,
    checked_json,
    checked_relationship,
    namespaced_key,
)
from pixsim_hooks.plugin._exceptions import NamespaceViolation, PermissionDenied, WriterClosed
from pixsim_hooks.plugin._frozen import FrozenDict, Immutable, freeze, immutable
from pixsim_hooks.plugin._manifest import CORE_PLUGIN_ID
from pixsim_hooks.plugin._snapshots import NpcSnapshot, SessionSnapshot
from proxies import capability_proxy_class

__all__ = [
    "MAX_FACTOR",
    "ConditionEvaluator",
    "EffectHandler",
    "ScoringFactor",
    "MAX_RELATIONSHIP_DELTA",
    "MAX_WRITES",
    "WRITER_MEMBERS",
    "EffectWriter",
    "NpcView",
    "StagedWrites",
    "factor_value",
    "writer_proxies",
]


@immutable(frozen=("world_meta", "state", "preferences"))
@dataclass(frozen=True, slots=True)
class NpcView(Immutable):
    """Read-only data for one NPC decision.

    ``state`` is the NPC's session state (``flags.npcs["npc:<id>"].state``: ``energy``, ``currentActivityId``,
    ``moodState``, ...), ``preferences`` its merged preferences (routine defaults → NPC → session override),
    ``world_meta`` the world's ``meta``. ``session`` is the session as the tick found it. ``time_of_day`` is one of
    ``morning``, ``afternoon``, ``evening``, ``night``.
    """

    world_id: int
    npc: NpcSnapshot
    session: SessionSnapshot
    world_meta: Mapping[str, Any]
    state: Mapping[str, Any]
    preferences: Mapping[str, Any]
    world_time: float
    time_of_day: str

    @property
    def npc_key(self) -> str:
        """``"npc:<id>"``: the NPC's key in ``session.relationships`` and ``flags.npcs``."""
        return f"npc:{self.npc.id}"


@immutable()  # engine-side only, and its mappings are read-only views already: not frozen again
@dataclass(frozen=True, slots=True)
class StagedWrites(Immutable):
    """What one effect call staged: full flag keys → values, and ``"npc:<id>"`` → metric → summed delta."""

    flags: Mapping[str, Any] = field(default_factory=FrozenDict)
    relationships: Mapping[str, Mapping[str, float]] = field(default_factory=FrozenDict)


def _json_value(value: Any) -> Any:
    """``checked_json(value)``, with a fast path for plain scalars (most flag values; effects run per decision)."""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind is str and len(value) <= _SHORT_TEXT:
        return value
    return checked_json(value)


MAX_FACTOR = 1e6
"""The largest scoring factor believed. A factor multiplies an activity's score; a million already makes one candidate
win against any other, and a bound keeps every product of factors finite (1e6 ** 300 would not be)."""


def factor_value(value: Any) -> float | None:
    """A scoring factor's answer as the multiplier it stands for, or None when it is none: an int or float (not a
    bool, not a subclass), finite, from 0 to :data:`MAX_FACTOR`. A huge int is compared, never converted (its
    float() would overflow)."""
    kind = type(value)
    if kind is int:
        return float(value) if 0 <= value <= MAX_FACTOR else None
    if kind is float and math.isfinite(value) and 0.0 <= value <= MAX_FACTOR:
        return float(value)
    return None


MAX_WRITES = 64  # staged writes per effect call: bounds what one call can add to the tick's change
_SHORT_TEXT = 4096  # a str this short is within the 64 KiB JSON cap even if every character needed escaping


class EffectWriter:
    """Stages the writes of one effect-handler call; the engine applies them only if the handler returned
    without raising, so a failing effect leaves no partial write. Once the call is over the writer refuses use.

    Flag keys are namespaced to the handler's plugin (``"items"`` → ``plugin:<id>:items``); a key in another
    plugin's namespace raises :class:`~pixsim_hooks.NamespaceViolation`. Values must be finite JSON; at most
    :data:`MAX_WRITES` writes per call. Built by the engine (one per call), which hands the plugin a capability
    proxy of it and holds no reference to anything of the host here: ``read`` is a read-only mapping's ``get`` and
    denials are kept for the engine to report (:attr:`denied`). A writer a plugin builds itself is applied nowhere.
    """

    __slots__ = ("_closed", "_denied", "_flags", "_plugin_id", "_read", "_relationships", "_writes")

    def __init__(
        self,
        plugin_id: str,
        *,
        read: Callable[[str], Any] | None = None,
    ) -> None:
        self._plugin_id = plugin_id
        self._read = read
        self._denied: list[NamespaceViolation] = []
        self._flags: dict[str, Any] = {}
        self._relationships: dict[str, dict[str, float]] = {}
        self._closed = False
        self._writes = 0

    @property
    def plugin_id(self) -> str:
        return self._plugin_id

    def set_flag(self, key: str, value: Any) -> None:
        """Stage ``flags["plugin:<id>:<key>"] = value``."""
        self._check_open()
        self._count()
        self._flags[self._key(key, "set_flag")] = _json_value(value)

    def get_flag(self, key: str, default: Any = None) -> Any:
        """One of the plugin's own flags as this tick has it so far (earlier effects' writes included)."""
        self._check_open()
        full = self._key(key, "get_flag")
        if full in self._flags:
            return freeze(self._flags[full])
        value = self._read(full) if self._read is not None else None
        return default if value is None else freeze(value)

    def adjust_relationship(self, npc_key: str, metric: str, delta: float) -> None:
        """Stage ``relationships[npc_key][metric] += delta`` (``npc_key`` is ``"npc:<id>"``, |delta| <= 100)."""
        self._check_open()
        self._count()
        npc_key, metric, amount = checked_relationship(npc_key, metric, delta, MAX_RELATIONSHIP_DELTA)
        metrics = self._relationships.setdefault(npc_key, {})
        metrics[metric] = metrics.get(metric, 0.0) + amount

    def seal(self) -> StagedWrites:
        """End the call: the writer refuses further use; returns what it staged (engine side).

        Read-only views over the staged values: those are the writer's own normalised copies, which the plugin
        never held, so no deep copy is needed (this runs once per effect call)."""
        self._closed = True
        relationships = {key: MappingProxyType(metrics) for key, metrics in self._relationships.items()}
        return StagedWrites(MappingProxyType(self._flags), MappingProxyType(relationships))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def denied(self) -> tuple[NamespaceViolation, ...]:
        """The namespace violations this call ran into (the engine reports them against the plugin)."""
        return tuple(self._denied)

    def _count(self) -> None:
        self._writes += 1
        if self._writes > MAX_WRITES:
            raise ValueError(f"an effect call may stage at most {MAX_WRITES} writes")

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosed("this EffectWriter belonged to an effect call that has returned; it is closed")

    def _key(self, key: str, member: str) -> str:
        if self._plugin_id == CORE_PLUGIN_ID:
            raise PermissionError("core effects write flags through their own writer")
        try:
            return namespaced_key(self._plugin_id, key, capability="effect", member=member)
        except NamespaceViolation as exc:
            self._denied.append(exc)
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<EffectWriter plugin={self._plugin_id!r} {state}>"


WRITER_MEMBERS = ("plugin_id", "set_flag", "get_flag", "adjust_relationship")
"""What an effect's ``writer`` lets a plugin use: nothing else of the writer is reachable through its proxy."""


def writer_proxies(plugin_id: str, on_denied: Callable[[PermissionDenied], None]) -> Callable[[object], object]:
    """The capability proxy class of one plugin's effect writers: made once, one instance per effect call."""
    return capability_proxy_class(
        plugin_id=plugin_id,
        capability="effect",
        grants=dict.fromkeys(WRITER_MEMBERS),
        requires={},
        on_denied=on_denied,
    )


# The calling conventions of behavior extensions, as the host calls them (positionally: the names are the author's).
# ``ctx`` is the plugin's own ``PluginContext`` (typed Any here: this module sits below the context's).
class ConditionEvaluator(Protocol):
    """A custom condition: ``fn(ctx, params, view) -> bool``; true when the condition holds for this NPC now."""

    def __call__(self, ctx: Any, params: Mapping[str, Any], view: NpcView, /) -> bool: ...


class EffectHandler(Protocol):
    """A custom effect: ``fn(ctx, params, view, writer) -> None``; writes only through ``writer`` (staged)."""

    def __call__(self, ctx: Any, params: Mapping[str, Any], view: NpcView, writer: EffectWriter, /) -> None: ...


class ScoringFactor(Protocol):
    """A scoring factor: ``fn(ctx, activity, view) -> float``; a finite number in 0..1e6 multiplies the score."""

    def __call__(self, ctx: Any, activity: Mapping[str, Any], view: NpcView, /) -> float: ...

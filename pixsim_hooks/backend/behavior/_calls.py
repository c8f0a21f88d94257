"""Calling registered behavior extensions for one tick: through ``host.call_extension`` (isolated, world-scoped), with
the contract's result rules, and keeping track of which plugins took part in each NPC's decision.

Every call passes a private sentinel as the fallback, so a failure (recorded by the host) is told apart from a
legitimate False / 1.0 / None; the contract's fallback is applied here. Participation is recorded against the NPC
each call is for (every call carries that NPC's view), in the record :meth:`ExtensionCalls.begin_npc` gave it: the
same whether the tick decides its NPCs one after another or concurrently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pixsim_hooks.host import Outcome, PluginHost, WorldScope
from pixsim_hooks.plugin import (
    CORE_PLUGIN_ID,
    MAX_FACTOR,
    BehaviorEntry,
    EffectWriter,
    ExtensionKind,
    NpcView,
    StagedWrites,
    factor_value,
    writer_proxies,
)

__all__ = ["ExtensionCalls", "Participation"]

_FAILED = object()
NEUTRAL = 1.0


def _described(value: Any) -> str:
    """A plugin's wrong answer in a few words: never its full repr (a 5,000-digit int has none, a huge string
    would flood the log)."""
    kind = type(value)
    if kind is int:
        return f"an int of {value.bit_length()} bits" if abs(value) > 10**12 else f"{value}"  # str() may refuse it
    if kind is float or kind is bool or value is None:
        return repr(value)
    return f"a {kind.__name__}"


class Participation:
    """Which plugins took part in one NPC's decision, and which failed in it."""

    __slots__ = ("acted", "failed")

    def __init__(self) -> None:
        self.acted: set[str] = set()
        self.failed: set[str] = set()


class ExtensionCalls:
    """One tick's view of the registry: which extensions may run for this world, and calls to them.

    ``concurrent``: some plugin of the world runs out of process, so the tick decides its NPCs concurrently (their
    calls then go out in batches)."""

    def __init__(self, host: PluginHost, scope: WorldScope) -> None:
        self.host = host
        self.scope = scope
        self._entries: dict[tuple[ExtensionKind, str], BehaviorEntry | None] = {}
        self._records: dict[int, Participation] = {}  # NPC id -> its decision's record
        self._writers: dict[str, Callable[[object], object]] = {}  # plugin id -> the proxy class of its writers
        self._outside = Participation()  # calls made for an NPC that has no record (none today)
        self.concurrent = self.out_of_process()

    def begin_npc(self, npc_id: int, record: Participation) -> None:
        """Record the participation of calls made for ``npc_id`` (their views name it) into ``record``."""
        self._records[npc_id] = record

    def record_of(self, view: NpcView) -> Participation:
        return self._records.get(view.npc.id, self._outside)

    def out_of_process(self) -> bool:
        """Some plugin taking part in this world's behavior runs out of process."""
        isolated = self.host.isolated
        plugins = {e.plugin_id for e in self.host.behavior.entries() if e.plugin_id != CORE_PLUGIN_ID}
        plugins |= {impl.plugin_id for impl in self.host.hook.suggest_activities.plan()}
        return any(isolated(pid) is not None and self.plugin_active(pid) for pid in plugins)

    def entry(self, kind: ExtensionKind, extension_id: str) -> BehaviorEntry | None:
        """The entry if it exists and may run in this world now (core built-ins always may)."""
        key = (kind, extension_id)
        if key not in self._entries:
            entry = self.host.behavior.get(kind, extension_id)
            self._entries[key] = entry if entry is not None and self._active(entry) else None
        return self._entries[key]

    def scoring_factors(self) -> tuple[BehaviorEntry, ...]:
        """The plugin scoring factors this world takes part in, in id order."""
        entries = self.host.behavior.entries(ExtensionKind.SCORING)
        return tuple(e for e in entries if self.entry(ExtensionKind.SCORING, e.id) is not None)

    def plugin_active(self, plugin_id: str) -> bool:
        """The plugin is enabled globally and for this world."""
        ctx = self.host.dispatch_context(plugin_id, "register_behavior")
        return ctx is not None and self.scope.allows(plugin_id)

    def _active(self, entry: BehaviorEntry) -> bool:
        return entry.plugin_id == CORE_PLUGIN_ID or self.plugin_active(entry.plugin_id)

    # -- the three kinds ----------------------------------------------------------------------------------------
    async def condition(self, evaluator_id: str, params: Mapping[str, Any], view: NpcView) -> bool:
        """Unknown or disabled evaluator, failure, or any result but ``bool`` → False."""
        entry = self.entry(ExtensionKind.CONDITION, evaluator_id)
        if entry is None:
            return False
        result = await self.host.call_extension(entry, params, view, fallback=_FAILED, world=self.scope)
        record = self.record_of(view)
        if result is _FAILED:
            record.failed.add(entry.plugin_id)
            return False
        if type(result) is not bool:
            self._reject(entry, record, f"returned {type(result).__name__}, not bool; counted as False")
            return False
        self._acted(entry, record)
        return result

    async def factors(
        self, entries: Sequence[BehaviorEntry], activity: Mapping[str, Any], view: NpcView
    ) -> list[tuple[str, float]]:
        """(factor id, multiplier) for each factor; a failure or a non-finite, negative or non-number result counts
        as the neutral 1.0. One coroutine for all of an activity's factors: this runs per candidate per NPC."""
        values: list[tuple[str, float]] = []
        record = self.record_of(view)
        for entry in entries:
            result = await self.host.call_extension(entry, activity, view, fallback=_FAILED, world=self.scope)
            if result is _FAILED:
                record.failed.add(entry.plugin_id)
                factor = NEUTRAL
            elif (checked := factor_value(result)) is None:  # the same rule out-of-process answers are held to
                why = f"returned {_described(result)}, not a finite number from 0 to {MAX_FACTOR:g}; counted as 1.0"
                self._reject(entry, record, why)
                factor = NEUTRAL
            else:
                record.acted.add(entry.plugin_id)  # scoring factors are plugins' only (the core has none)
                factor = checked
            values.append((entry.id, factor))
        return values

    async def effect(
        self, entry: BehaviorEntry, params: Mapping[str, Any], view: NpcView, writer: EffectWriter
    ) -> StagedWrites | None:
        """Run an effect; its staged writes, or None when it failed (then nothing it staged is applied)."""
        handed = writer if entry.plugin_id == CORE_PLUGIN_ID else self._writer_proxy(entry.plugin_id)(writer)
        try:
            result = await self.host.call_extension(entry, params, view, handed, fallback=_FAILED, world=self.scope)
        finally:
            staged = writer.seal()  # the writer refuses use from here on, whatever happened
        record = self.record_of(view)
        if result is _FAILED:
            record.failed.add(entry.plugin_id)
            return None
        self._acted(entry, record)
        return staged

    def _writer_proxy(self, plugin_id: str) -> Callable[[object], object]:
        """The capability proxy class of one plugin's effect writers (made once per tick; one instance per call)."""
        make = self._writers.get(plugin_id)
        if make is None:
            make = self._writers[plugin_id] = writer_proxies(plugin_id, self.host.health.record_denial)
        return make

    # -- bookkeeping ----------------------------------------------------------------------------------------------
    @staticmethod
    def _acted(entry: BehaviorEntry, record: Participation) -> None:
        if entry.plugin_id != CORE_PLUGIN_ID:
            record.acted.add(entry.plugin_id)

    def _reject(self, entry: BehaviorEntry, record: Participation, why: str) -> None:
        record.failed.add(entry.plugin_id)
        error = TypeError(f"{entry.kind.value} {entry.id} {why}")
        self.host.record_failure(entry.plugin_id, entry.id, Outcome.ERROR, error, self.scope.world_id)

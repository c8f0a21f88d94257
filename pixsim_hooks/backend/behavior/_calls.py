"""Calling registered behavior extensions for one tick: through ``host.call_extension`` (isolated, world-scoped), with
the contract's result rules, and keeping track of which plugins took part in each NPC's decision.

Every call passes a private sentinel as the fallback, so a failure (recorded by the host) is told apart from a
legitimate False / 1.0 / None; the contract's fallback is applied here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from pixsim_hooks.host import Outcome, PluginHost, WorldScope
from pixsim_hooks.plugin import CORE_PLUGIN_ID, BehaviorEntry, EffectWriter, ExtensionKind, NpcView, StagedWrites

__all__ = ["ConcurrentExtensionCalls", "ExtensionCalls"]

_FAILED = object()
_FOCUS: ContextVar[tuple[set[str], set[str]]] = ContextVar("pixsim_behavior_npc_focus")
NEUTRAL = 1.0


class ExtensionCalls:
    """One tick's view of the registry: which extensions may run for this world, and calls to them.

    Build it with :meth:`for_world`: when a plugin of the world runs out of process the tick decides its NPCs
    concurrently (so that their calls batch) and gets a :class:`ConcurrentExtensionCalls`."""

    concurrent = False

    def __init__(self, host: PluginHost, scope: WorldScope) -> None:
        self.host = host
        self.scope = scope
        self._entries: dict[tuple[ExtensionKind, str], BehaviorEntry | None] = {}
        self.acted: set[str] = set()  # plugins that took part in the current NPC's decision
        self.failed: set[str] = set()

    @classmethod
    def for_world(cls, host: PluginHost, scope: WorldScope) -> ExtensionCalls:
        calls = cls(host, scope)
        return ConcurrentExtensionCalls(host, scope) if calls.out_of_process() else calls

    def begin_npc(self, acted: set[str], failed: set[str]) -> None:
        """Record participation into these sets from now on (one pair per NPC)."""
        self.acted, self.failed = acted, failed

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
        if result is _FAILED:
            self._failed(entry)
            return False
        if type(result) is not bool:
            self._reject(entry, f"returned {type(result).__name__}, not bool; counted as False")
            return False
        self._acted(entry)
        return result

    async def factors(
        self, entries: Sequence[BehaviorEntry], activity: Mapping[str, Any], view: NpcView
    ) -> list[tuple[str, float]]:
        """(factor id, multiplier) for each factor; a failure or a non-finite, negative or non-number result counts
        as the neutral 1.0. One coroutine for all of an activity's factors: this runs per candidate per NPC."""
        values: list[tuple[str, float]] = []
        for entry in entries:
            result = await self.host.call_extension(entry, activity, view, fallback=_FAILED, world=self.scope)
            if result is _FAILED:
                self._failed(entry)
                result = NEUTRAL
            elif type(result) not in (float, int) or not math.isfinite(result) or result < 0:  # bool is not int
                self._reject(entry, f"returned {result!r:.60}, not a finite non-negative number; counted as 1.0")
                result = NEUTRAL
            else:
                self.acted.add(entry.plugin_id)  # scoring factors are plugins' only (the core has none)
            values.append((entry.id, float(result)))
        return values

    async def effect(
        self, entry: BehaviorEntry, params: Mapping[str, Any], view: NpcView, writer: EffectWriter
    ) -> StagedWrites | None:
        """Run an effect; its staged writes, or None when it failed (then nothing it staged is applied)."""
        try:
            result = await self.host.call_extension(entry, params, view, writer, fallback=_FAILED, world=self.scope)
        finally:
            staged = writer.seal()  # the writer refuses use from here on, whatever happened
        if result is _FAILED:
            self._failed(entry)
            return None
        self._acted(entry)
        return staged

    # -- bookkeeping ----------------------------------------------------------------------------------------------
    def _acted(self, entry: BehaviorEntry) -> None:
        if entry.plugin_id != CORE_PLUGIN_ID:
            self.acted.add(entry.plugin_id)

    def _failed(self, entry: BehaviorEntry) -> None:
        self.failed.add(entry.plugin_id)

    def _reject(self, entry: BehaviorEntry, why: str) -> None:
        self.failed.add(entry.plugin_id)
        error = TypeError(f"{entry.kind.value} {entry.id} {why}")
        self.host.record_failure(entry.plugin_id, entry.id, Outcome.ERROR, error, self.scope.world_id)


class ConcurrentExtensionCalls(ExtensionCalls):
    """For NPCs decided concurrently, each in its own task: the current NPC's participation sets are a context
    variable (each task has its own), not attributes (a plain attribute would be the last task's)."""

    concurrent = True

    def __init__(self, host: PluginHost, scope: WorldScope) -> None:
        super().__init__(host, scope)
        self._outside = (set[str](), set[str]())  # participation recorded outside any NPC's decision

    def begin_npc(self, acted: set[str], failed: set[str]) -> None:
        _FOCUS.set((acted, failed))

    @property
    def acted(self) -> set[str]:
        return _FOCUS.get(self._outside)[0]

    @acted.setter
    def acted(self, value: set[str]) -> None:  # the base class's __init__ assigns it; the context var rules
        pass

    @property
    def failed(self) -> set[str]:
        return _FOCUS.get(self._outside)[1]

    @failed.setter
    def failed(self, value: set[str]) -> None:
        pass

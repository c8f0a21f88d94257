"""One tick's work on the NPCs of a session, computed without writing anything (the engine writes the result).

Per NPC, in id order: its tier (rules through the registry), whether it is due; then for each simulated NPC:

1. settle energy for the time spent in its current activity (``energyDeltaPerHour``, a rate);
2. if ``nextDecisionAtSeconds`` is reached, decide: the routine's node, its candidates (plus plugin suggestions at
   ``full`` detail), those feasible, scored (plugin factors at ``full`` detail only; ``schedule_only`` takes the
   highest node weight without scoring), a seeded weighted choice;
3. a new activity ends the old one (its cooldown starts), moves the NPC where the activity happens and applies the
   activity's effects (built-in, then custom). Carrying on applies no effects again: effects mark a start.

Each NPC draws from its own random stream, seeded from (seed, world time, NPC id), so one NPC's conditions never
shift another's draws and the same seed on the same data gives the same tick.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pixsim_hooks.backend.behavior._activities import CompiledActivity, destination, feasible
from pixsim_hooks.backend.behavior._calls import ExtensionCalls, Participation
from pixsim_hooks.backend.behavior._conditions import CompiledCondition
from pixsim_hooks.backend.behavior._config import NpcState, Preferences, Tier
from pixsim_hooks.backend.behavior._effects import ENERGY_EFFECT, CompiledEffect, CoreEffectWriter, TickChange
from pixsim_hooks.backend.behavior._report import DecisionRow, DecisionStatus
from pixsim_hooks.backend.behavior._routine import CompiledRoutine, Route
from pixsim_hooks.backend.behavior._scoring import SUGGESTED_BASE_WEIGHT, Weights, builtin_factors, choose, combine
from pixsim_hooks.backend.behavior._tiers import SimulationPlan, is_due, select_due, tier_of
from pixsim_hooks.backend.behavior._world import TickWorld, using_world
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import (
    CORE_PLUGIN_ID,
    BehaviorEntry,
    EffectWriter,
    ExtensionKind,
    FrozenDict,
    NamespaceViolation,
    NpcSnapshot,
    NpcView,
    StagedWrites,
    freeze,
)

__all__ = ["NpcRun", "TickRun"]


@dataclass(slots=True)
class NpcRun:
    """One NPC through one tick."""

    npc: NpcSnapshot
    state: NpcState
    preferences: Preferences
    preferences_json: FrozenDict
    routine: CompiledRoutine | None
    rng: random.Random
    tier: Tier | None = None
    view: NpcView | None = None  # the current view of the NPC; None once its state changed
    record: Participation = field(default_factory=Participation)  # which plugins took part, which failed
    score: float | None = None
    suggested: bool = False


def _frozen(value: Any) -> Any:
    """:func:`~pixsim_hooks.freeze` for the plain JSON a state dump is (built per NPC view, twice as fast)."""
    kind = type(value)
    if kind is dict:
        return FrozenDict({key: _frozen(item) for key, item in value.items()})
    if kind is list or kind is tuple:
        return tuple(_frozen(item) for item in value)
    return value


def _ids(suggestion: object) -> Sequence[object]:
    """A plugin's suggestion as a sequence of ids; a malformed answer (a str, a mapping, ...) suggests nothing."""
    if type(suggestion) in (list, tuple):  # the common case, without the slower ABC check
        return cast(Sequence[object], suggestion)
    return suggestion if isinstance(suggestion, Sequence) and not isinstance(suggestion, str) else ()


@dataclass(frozen=True, slots=True)
class _Candidate:
    activity: CompiledActivity
    base: float
    conditions: tuple[CompiledCondition, ...] = ()
    suggested: bool = False


class TickRun:
    def __init__(
        self,
        host: PluginHost,
        world: TickWorld,
        calls: ExtensionCalls,
        plan: SimulationPlan,
        activities: dict[str, CompiledActivity],
        npcs: Sequence[NpcRun],
    ) -> None:
        self.host = host
        self.world = world
        self.calls = calls
        self.plan = plan
        self.activities = activities
        self.npcs = npcs
        self.change = TickChange(world.session)
        self._factors: tuple[BehaviorEntry, ...] = calls.scoring_factors()
        self._weights = Weights.of(world.config.scoring_config)
        self._report_denial = host.health.record_denial
        # Asking a hook nobody implements still costs a dispatch per NPC: skip it when there is no suggester.
        self._suggesters = bool(host.hook.suggest_activities.plan())
        self._concurrent = calls.concurrent
        self._turn_of: dict[int, asyncio.Future[None]] = {}  # NPC id -> the previous simulated NPC's completion
        for run in npcs:  # each NPC's own state, found by the NPC id its views carry: never "the current NPC"
            world.rngs[run.npc.id] = run.rng
            calls.begin_npc(run.npc.id, run.record)

    async def execute(self) -> tuple[list[DecisionRow], TickChange]:
        with using_world(self.world):
            await self._each(self.npcs, self._tier)
            due = [(r.npc.id, r.state) for r in self.npcs if r.tier and is_due(r.tier, r.state, self.world.now)]
            simulated, deferred = select_due(due, self.plan.max_npcs_per_tick)
            runs = [run for run in self.npcs if run.npc.id in simulated]
            decided = dict(
                zip([r.npc.id for r in runs], await self._each(runs, self._simulate, ordered=True), strict=True)
            )
            rows = []
            for run in self.npcs:
                if run.npc.id in decided:
                    rows.append(decided[run.npc.id])
                else:
                    status = DecisionStatus.DEFERRED if run.npc.id in deferred else DecisionStatus.NOT_DUE
                    rows.append(self._row(run, status))
        return rows, self.change

    async def _tier(self, run: NpcRun) -> None:
        run.tier = await tier_of(self.plan, self.calls, self.view(run))

    async def _each(self, runs: Sequence[NpcRun], work: Any, *, ordered: bool = False) -> list[Any]:
        """``work(run)`` for each run: one after another, or — when a plugin of this world runs out of process —
        concurrently, so that its calls of one step of every NPC go out as one batch.

        Concurrency keeps the sequential result: until its turn an NPC only reads its own state and what the tick
        read at the start; everything that writes what others may read (effects, its state in the change) waits
        for its turn (:meth:`_await_turn`), which comes when the NPC before it in id order is done."""
        if not self._concurrent:
            return [await work(run) for run in runs]
        loop = asyncio.get_running_loop()
        done = {run.npc.id: loop.create_future() for run in runs}
        if ordered:
            self._turn_of = {later.npc.id: done[earlier.npc.id] for earlier, later in itertools.pairwise(runs)}

        async def one(run: NpcRun) -> Any:
            try:
                return await work(run)
            finally:
                done[run.npc.id].set_result(None)

        results = await asyncio.gather(*(one(run) for run in runs), return_exceptions=True)
        self._turn_of = {}
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure
        return results

    async def _await_turn(self, run: NpcRun) -> None:
        previous = self._turn_of.get(run.npc.id)
        if previous is not None:
            await previous

    def view(self, run: NpcRun) -> NpcView:
        if run.view is None:
            run.view = self._new_view(run)
        return run.view

    def _new_view(self, run: NpcRun) -> NpcView:
        return NpcView(
            world_id=self.world.world.id,
            npc=run.npc,
            session=self.world.session,
            world_meta=self.world.world.meta,
            state=_frozen(run.state.model_dump(by_alias=True, exclude_none=True)),
            preferences=run.preferences_json,
            world_time=self.world.now,
            time_of_day=self.world.time_of_day,
        )

    # -- one simulated NPC --------------------------------------------------------------------------------------
    async def _simulate(self, run: NpcRun) -> DecisionRow:
        await self._settle_energy(run)
        state, now = run.state, self.world.now
        if state.next_decision_at_seconds is not None and now < state.next_decision_at_seconds:
            status = DecisionStatus.BUSY
        else:
            status = await self._decide(run)
        await self._await_turn(run)  # the change's states stay in id order
        state.last_simulated_at_seconds = now
        state.cooldowns = {aid: until for aid, until in state.cooldowns.items() if until > now}
        self.change.set_state(run.npc.id, state)
        return self._row(run, status)

    async def _settle_energy(self, run: NpcRun) -> None:
        state = run.state
        current = self.activities.get(state.current_activity_id or "")
        marks = [t for t in (state.last_simulated_at_seconds, state.activity_started_at_seconds) if t is not None]
        if current is None or not marks or not current.activity.effects.energy_delta_per_hour:
            return
        hours = (self.world.now - max(marks)) / 3600
        if hours > 0:
            params = {"energyDeltaPerHour": current.activity.effects.energy_delta_per_hour, "hours": hours}
            await self._apply_effects(run, ((ENERGY_EFFECT, freeze(params)),), self.view(run))
            run.view = None

    async def _decide(self, run: NpcRun) -> DecisionStatus:
        view = self.view(run)
        route = Route(None)
        if run.routine is not None:
            last = run.state.routine_node_id
            route = await run.routine.route(
                world_time=self.world.now, last_node_id=last, calls=self.calls, view=view, rng=run.rng
            )
            if route.node is not None and route.node.id != last:
                run.state.routine_node_id = route.node.id
                if route.effects:
                    await self._await_turn(run)
                    await self._apply_effects(run, route.effects, view)
                    run.view = None
                    view = self.view(run)  # candidates are judged on the state the transition left
        candidates = self._node_candidates(run, route)
        if self._suggesters and run.tier is not None and run.tier.detail_level == "full":
            candidates += await self._suggestions(run, candidates)
        open_ = [c for c in candidates if await self._feasible(run, c, view)]
        picked = await self._pick(run, open_, view)
        return await self._adopt(run, picked, view)

    async def _feasible(self, run: NpcRun, candidate: _Candidate, view: NpcView) -> bool:
        return await feasible(
            candidate.activity, candidate.conditions, calls=self.calls, view=view, state=run.state, world=self.world
        )

    def _node_candidates(self, run: NpcRun, route: Route) -> list[_Candidate]:
        if run.routine is None or route.node is None:
            return []
        entries = run.routine.entries[route.node.id]
        return [_Candidate(self.activities[e.activity_id], e.weight, e.conditions) for e in entries]

    async def _suggestions(self, run: NpcRun, have: list[_Candidate]) -> list[_Candidate]:
        """Plugin suggestions naming activities of the world that are not candidates already."""
        results = await self.host.hook.suggest_activities(
            world=self.calls.scope, world_id=self.world.world.id, npc=run.npc, session=self.world.session
        )
        taken = {c.activity.id for c in have}
        extra: list[_Candidate] = []
        for suggestion in results:
            for activity_id in _ids(suggestion):
                if isinstance(activity_id, str) and activity_id in self.activities and activity_id not in taken:
                    taken.add(activity_id)
                    extra.append(_Candidate(self.activities[activity_id], SUGGESTED_BASE_WEIGHT, suggested=True))
        return extra

    async def _pick(self, run: NpcRun, open_: list[_Candidate], view: NpcView) -> _Candidate | None:
        assert run.tier is not None
        if run.tier.detail_level == "schedule_only":
            best = max(open_, key=lambda c: c.base, default=None)  # max keeps the first of equals: node order
            run.score = None
            return best
        scored = [(c, await self._score(run, c, view)) for c in open_]
        chosen = choose(scored, run.rng)
        if chosen is None:
            return None
        run.score = chosen[1]
        return chosen[0]

    async def _score(self, run: NpcRun, candidate: _Candidate, view: NpcView) -> float:
        activity = candidate.activity
        factors = builtin_factors(
            activity.activity,
            candidate.base,
            state=run.state,
            preferences=run.preferences,
            world=self.world,
            npc_id=run.npc.id,
        )
        plugin: list[tuple[str, float]] = []
        if self._factors and run.tier is not None and run.tier.detail_level == "full":
            plugin = await self.calls.factors(self._factors, activity.json, view)
        return combine(factors, self._weights, plugin, is_current=activity.id == run.state.current_activity_id)

    async def _adopt(self, run: NpcRun, picked: _Candidate | None, view: NpcView) -> DecisionStatus:
        await self._await_turn(run)  # from here on it writes: where it goes, its effects
        state, now = run.state, self.world.now
        if picked is None:
            self._end_current(state)
            state.current_activity_id = state.activity_started_at_seconds = state.next_decision_at_seconds = None
            return DecisionStatus.IDLE
        activity = picked.activity.activity
        state.next_decision_at_seconds = now + (activity.min_duration_seconds or 0.0)
        run.suggested = picked.suggested
        if activity.id == state.current_activity_id:
            return DecisionStatus.CONTINUED
        self._end_current(state)
        state.location_id = destination(activity, state, run.preferences, self.world)
        state.current_activity_id, state.activity_started_at_seconds = activity.id, now
        # Effects see the NPC as it decided (the view of its state before this start): rebuilding the view here
        # would cost every start a copy of the state, for what the effect can read from the activity anyway.
        await self._apply_effects(run, picked.activity.effects, view)
        return DecisionStatus.STARTED

    def _end_current(self, state: NpcState) -> None:
        current = self.activities.get(state.current_activity_id or "")
        if current is not None and current.activity.cooldown_seconds:
            state.cooldowns[current.id] = self.world.now + current.activity.cooldown_seconds

    # -- effects --------------------------------------------------------------------------------------------------
    async def _apply_effects(self, run: NpcRun, effects: Sequence[CompiledEffect], view: NpcView) -> None:
        """Each effect on its own: one that fails (or is unknown here) leaves nothing; the others still apply."""
        for effect_type, params in effects:
            entry = self.calls.entry(ExtensionKind.EFFECT, effect_type)
            if entry is None:
                continue
            if entry.plugin_id == CORE_PLUGIN_ID:
                core = CoreEffectWriter()
                staged = await self.calls.effect(entry, params, view, core)
                if staged is not None:
                    self.change.merge_core(core, staged, run.state)
                continue
            # The writer reads the plugin's own flags through a read-only view: nothing of the tick's change set
            # is reachable from it (the plugin gets it behind a capability proxy besides).
            writer = EffectWriter(entry.plugin_id, read=self.change.own_flags(entry.plugin_id).get)
            staged = await self.calls.effect(entry, params, view, writer)
            for denial in writer.denied:
                self._report_denial(denial)
            if staged is not None:
                self._merge(entry, run, staged)

    def _merge(self, entry: BehaviorEntry, run: NpcRun, staged: StagedWrites) -> None:
        try:
            self.change.merge(entry.plugin_id, staged)
        except NamespaceViolation as exc:
            self.host.health.record_denial(exc)
            run.record.acted.discard(entry.plugin_id)
            run.record.failed.add(entry.plugin_id)

    # -- reporting ----------------------------------------------------------------------------------------------
    def _row(self, run: NpcRun, status: DecisionStatus) -> DecisionRow:
        current = self.activities.get(run.state.current_activity_id or "")
        decided = status in (DecisionStatus.STARTED, DecisionStatus.CONTINUED)
        return DecisionRow(
            npc_id=run.npc.id,
            npc_name=run.npc.name,
            tier=run.tier.id if run.tier else "",
            detail_level=run.tier.detail_level if run.tier else "",
            status=status,
            activity_id=current.id if current else None,
            activity_name=(current.activity.name or current.id) if current else None,
            score=run.score if decided else None,
            energy=run.state.energy,
            location_id=run.state.location_id,
            plugins=tuple(sorted(run.record.acted)),
            failed_plugins=tuple(sorted(run.record.failed)),
            suggested=run.suggested and decided,
        )

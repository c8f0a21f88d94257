"""Simulation tiers: the world's ``simulationConfig`` over plugins' defaults, each NPC's tier, and who is due.

Merging (what the world authored always wins):

- ``tiers`` are merged by id: plugins' tiers (registry defaults by plugin id, then ``provide_simulation_defaults``
  results in call order), then the world's, a later definition replacing an earlier one with the same id;
- ``priorityRules``: the world's when it has any, else every plugin's (a rule naming no known tier is dropped);
- ``defaultTier`` and ``maxNpcsPerTick``: the world's, else the last plugin's that offers one;
- nothing at all: one tier ``default`` simulated on every tick at full detail.

A plugin offer that is not a valid partial ``simulationConfig`` is ignored (and recorded when its plugin is known);
a reference the world itself authored that names no tier is a ConfigError.

An NPC's tier is that of the matching rule with the highest priority (ties: the earlier rule), else the default
tier. It is due when ``tickFrequencySeconds`` have passed since it was last simulated (or it never was); at most
``maxNpcsPerTick`` due NPCs are simulated, those waiting longest first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.backend.behavior._conditions import CompiledCondition, all_hold, compile_condition
from pixsim_hooks.backend.behavior._config import NpcState, PartialSimulationConfig, PriorityRule, Tier
from pixsim_hooks.backend.behavior._loading import validate
from pixsim_hooks.host import Outcome, PluginHost
from pixsim_hooks.plugin import ConfigError, NpcView

__all__ = [
    "DEFAULT_TIER",
    "SimulationPlan",
    "is_due",
    "resolve_plan",
    "select_due",
    "simulation_plan",
    "tier_of",
]

log = structlog.get_logger(__name__)
DEFAULT_TIER = Tier(id="default", tick_frequency_seconds=0, detail_level="full")
_ROOT = "meta.behavior.simulationConfig"
Offer = tuple[str | None, Any]  # (plugin id when known, its offered config)


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    tiers: Mapping[str, Tier]
    rules: tuple[tuple[PriorityRule, tuple[CompiledCondition, ...]], ...]  # highest priority first
    default_tier: str
    max_npcs_per_tick: int | None


async def simulation_plan(
    host: PluginHost, calls: ExtensionCalls, world_id: int, authored: PartialSimulationConfig | None
) -> SimulationPlan:
    """The plan for one tick: defaults from the plugins this world enables, under what the world authored."""
    static = [(pid, config) for pid, config in sorted(host.behavior.simulation_defaults().items())]
    offers: list[Offer] = [(pid, config) for pid, config in static if calls.plugin_active(pid)]
    offers += [
        (None, config) for config in await host.hook.provide_simulation_defaults(world=calls.scope, world_id=world_id)
    ]

    def reject(plugin_id: str | None, error: Exception) -> None:
        if plugin_id is None:
            log.warning("a plugin's simulation defaults are invalid; ignored", world_id=world_id, error=str(error))
        else:
            host.record_failure(plugin_id, "simulation_defaults", Outcome.ERROR, error, world_id)

    return resolve_plan(authored, offers, reject)


def resolve_plan(
    authored: PartialSimulationConfig | None,
    offers: Sequence[Offer],
    reject: Callable[[str | None, Exception], None],
) -> SimulationPlan:
    valid: list[tuple[str | None, PartialSimulationConfig]] = []
    for plugin_id, offer in offers:
        try:
            valid.append((plugin_id, validate(PartialSimulationConfig, offer, "simulationDefaults")))
        except ConfigError as exc:
            reject(plugin_id, exc)
    tiers: dict[str, Tier] = {}
    for _, offered in [*valid, (None, authored)]:
        if offered is not None:
            tiers.update({tier.id: tier for tier in offered.tiers or ()})
    if not tiers:
        tiers = {DEFAULT_TIER.id: DEFAULT_TIER}
    return SimulationPlan(
        tiers=tiers,
        rules=_rules(authored, valid, tiers, reject),
        default_tier=_default_tier(authored, valid, tiers),
        max_npcs_per_tick=_last_set(authored, valid, "max_npcs_per_tick"),
    )


def _rules(
    authored: PartialSimulationConfig | None,
    offers: Sequence[tuple[str | None, PartialSimulationConfig]],
    tiers: Mapping[str, Tier],
    reject: Callable[[str | None, Exception], None],
) -> tuple[tuple[PriorityRule, tuple[CompiledCondition, ...]], ...]:
    rules: list[PriorityRule] = []
    if authored is not None and authored.priority_rules:
        for i, rule in enumerate(authored.priority_rules):
            _known(tiers, rule.tier, f"{_ROOT}.priorityRules[{i}].tier")
        rules = list(authored.priority_rules)
    else:
        for plugin_id, offer in offers:
            for rule in offer.priority_rules or ():
                if rule.tier in tiers:
                    rules.append(rule)
                else:
                    reject(plugin_id, ValueError(f"priority rule names unknown tier {rule.tier!r}"))
    ordered = sorted(enumerate(rules), key=lambda pair: (-pair[1].priority, pair[0]))
    return tuple((rule, _conditions(rule)) for _, rule in ordered)


def _conditions(rule: PriorityRule) -> tuple[CompiledCondition, ...]:
    return () if rule.condition is None else (compile_condition(rule.condition),)


def _default_tier(
    authored: PartialSimulationConfig | None,
    offers: Sequence[tuple[str | None, PartialSimulationConfig]],
    tiers: Mapping[str, Tier],
) -> str:
    if authored is not None and authored.default_tier is not None:
        return _known(tiers, authored.default_tier, f"{_ROOT}.defaultTier")
    offered = [o.default_tier for _, o in offers if o.default_tier is not None and o.default_tier in tiers]
    return offered[-1] if offered else next(iter(tiers))


def _last_set(
    authored: PartialSimulationConfig | None, offers: Sequence[tuple[str | None, PartialSimulationConfig]], name: str
) -> Any:
    for config in [authored, *(o for _, o in reversed(offers))]:
        if config is not None and getattr(config, name) is not None:
            return getattr(config, name)
    return None


def _known(tiers: Mapping[str, Tier], tier_id: str, path: str) -> str:
    if tier_id not in tiers:
        raise ConfigError(f"{path}: no tier {tier_id!r} is defined (by the world or its plugins)", path=path)
    return tier_id


# -- per NPC --------------------------------------------------------------------------------------------------------
async def tier_of(plan: SimulationPlan, calls: ExtensionCalls, view: NpcView) -> Tier:
    for rule, conditions in plan.rules:
        if await all_hold(calls, conditions, view):
            return plan.tiers[rule.tier]
    return plan.tiers[plan.default_tier]


def is_due(tier: Tier, state: NpcState, now: float) -> bool:
    last = state.last_simulated_at_seconds
    return last is None or now - last >= tier.tick_frequency_seconds


def select_due(due: Sequence[tuple[int, NpcState]], limit: int | None) -> tuple[set[int], set[int]]:
    """(simulated, deferred) NPC ids: never simulated first, then the longest waiting, then by id."""
    if limit is None or len(due) <= limit:
        return {npc_id for npc_id, _ in due}, set()
    ranked = sorted(
        due, key=lambda d: (d[1].last_simulated_at_seconds is not None, d[1].last_simulated_at_seconds or 0, d[0])
    )
    return {npc_id for npc_id, _ in ranked[:limit]}, {npc_id for npc_id, _ in ranked[limit:]}

"""Simulation tiers: merging plugins' defaults under the world's config, tier rules, frequencies, the per-tick cap
and what each detail level runs."""

from __future__ import annotations

from typing import Any

import pytest

from pixsim_hooks import ConfigError, hookimpl
from pixsim_hooks.backend.behavior._config import PartialSimulationConfig
from pixsim_hooks.backend.behavior._tiers import DEFAULT_TIER, resolve_plan
from tests.backend.behavior.conftest import MakeScene, activity, all_day, behavior, manifest, npc_meta

PLUGIN_DEFAULTS = {
    "tiers": [
        {"id": "near", "tickFrequencySeconds": 1},
        {"id": "far", "tickFrequencySeconds": 600, "detailLevel": "schedule_only"},
    ],
    "priorityRules": [{"condition": "same_location", "tier": "near", "priority": 5}],
    "defaultTier": "far",
    "maxNpcsPerTick": 50,
}


def plan(authored: dict[str, Any] | None, *offers: tuple[str | None, Any]) -> Any:
    rejected: list[tuple[str | None, str]] = []
    world = PartialSimulationConfig.model_validate(authored) if authored is not None else None
    result = resolve_plan(world, list(offers), lambda pid, exc: rejected.append((pid, str(exc))))
    return result, rejected


def test_without_any_config_every_npc_is_in_one_full_tier_ticked_every_time() -> None:
    result, _ = plan(None)
    assert dict(result.tiers) == {"default": DEFAULT_TIER} and result.default_tier == "default"
    assert result.rules == () and result.max_npcs_per_tick is None


def test_plugin_defaults_fill_in_what_the_world_did_not_author() -> None:
    result, _ = plan({"maxNpcsPerTick": 3}, ("sim", PLUGIN_DEFAULTS))
    assert set(result.tiers) == {"near", "far"} and result.default_tier == "far"
    assert [rule.tier for rule, _ in result.rules] == ["near"]
    assert result.max_npcs_per_tick == 3


def test_what_the_world_authored_wins_over_plugin_defaults() -> None:
    authored = {
        "tiers": [{"id": "far", "tickFrequencySeconds": 60, "detailLevel": "full"}],
        "priorityRules": [{"tier": "far", "priority": 1}],
        "defaultTier": "near",
    }
    result, _ = plan(authored, ("sim", PLUGIN_DEFAULTS))
    assert result.tiers["far"].tick_frequency_seconds == 60 and result.tiers["near"].tick_frequency_seconds == 1
    assert [(rule.tier, rule.condition) for rule, _ in result.rules] == [("far", None)]
    assert result.default_tier == "near" and result.max_npcs_per_tick == 50


def test_an_invalid_plugin_offer_is_ignored_and_reported() -> None:
    result, rejected = plan(None, ("bad", {"tiers": "lots"}), ("dangling", {"priorityRules": [{"tier": "ghost"}]}))
    assert dict(result.tiers) == {"default": DEFAULT_TIER} and result.rules == ()
    assert [pid for pid, _ in rejected] == ["bad", "dangling"]


@pytest.mark.parametrize(
    ("authored", "path"),
    [
        ({"defaultTier": "ghost"}, "meta.behavior.simulationConfig.defaultTier"),
        (
            {"priorityRules": [{"tier": "near"}, {"tier": "ghost"}]},
            "meta.behavior.simulationConfig.priorityRules[1].tier",
        ),
    ],
)
def test_a_world_reference_to_an_undefined_tier_is_a_config_error(authored: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan(authored, ("sim", PLUGIN_DEFAULTS))
    assert raised.value.path == path


def test_rules_are_tried_highest_priority_first_ties_in_order() -> None:
    rules = [{"tier": "a", "priority": 1}, {"tier": "b", "priority": 9}, {"tier": "c", "priority": 9}]
    tiers = [{"id": t, "tickFrequencySeconds": 0} for t in "abc"]
    result, _ = plan({"tiers": tiers, "priorityRules": rules, "defaultTier": "a"})
    assert [rule.tier for rule, _ in result.rules] == ["b", "c", "a"]


# -- through ticks --------------------------------------------------------------------------------------------------
def tiered(simulation: dict[str, Any], **extra: Any) -> dict[str, Any]:
    acts = [activity("top"), activity("low"), activity("other")]
    return behavior(acts, [all_day(("top", 0.9), ("low", 0.1))], simulationConfig=simulation, **extra)


async def test_the_highest_priority_matching_rule_sets_the_tier_else_the_default(make_scene: MakeScene) -> None:
    simulation = {
        "tiers": [{"id": t, "tickFrequencySeconds": 0} for t in ("home", "club", "street")],
        "priorityRules": [
            {"condition": {"type": "flag_equals", "key": "party", "value": True}, "tier": "club", "priority": 5},
            {"condition": "same_location", "tier": "home", "priority": 10},
        ],
        "defaultTier": "street",
    }
    scene = await make_scene(tiered(simulation), npcs=[npc_meta(), npc_meta()])
    await scene.set_flags(location_id=4, party=True)
    await scene.set_state({"locationId": 4}, index=0)
    report = await scene.tick()
    assert [row.tier for row in report.rows] == ["home", "club"]
    await scene.set_flags(party=False)
    assert [row.tier for row in (await scene.tick()).rows] == ["home", "street"]


async def test_an_npc_is_simulated_only_when_its_tier_frequency_has_elapsed(make_scene: MakeScene) -> None:
    simulation = {"tiers": [{"id": "slow", "tickFrequencySeconds": 120}], "defaultTier": "slow"}
    scene = await make_scene(tiered(simulation))
    statuses = [(await scene.tick(60)).rows[0].status for _ in range(4)]
    assert statuses == ["started", "not_due", "continued", "not_due"]


async def test_at_most_max_npcs_per_tick_are_simulated_those_waiting_longest_first(make_scene: MakeScene) -> None:
    simulation = {"tiers": [{"id": "all", "tickFrequencySeconds": 0}], "defaultTier": "all", "maxNpcsPerTick": 2}
    scene = await make_scene(tiered(simulation), npcs=[npc_meta()] * 3)
    first = [row.status for row in (await scene.tick()).rows]
    second = [row.status for row in (await scene.tick()).rows]
    assert first == ["started", "started", "deferred"]
    assert second == ["continued", "deferred", "started"]


class Extras:
    """A scoring factor that favours "other" and a suggestion of "other", to see which detail levels use them."""

    manifest = manifest("extras", "behavior:extend_scoring", "behavior:suggest_activities")
    factor_calls = 0

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_scoring_factor("boost", self.boost)

    def boost(self, ctx: Any, activity: Any, view: Any) -> float:
        Extras.factor_calls += 1
        return 1000.0 if activity["id"] == "activity:other" else 1.0

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        return ["activity:other", "activity:unknown"]


@pytest.mark.parametrize(
    ("detail", "full"),
    [("full", True), ("simplified", False), ("schedule_only", False)],
)
async def test_plugins_suggestions_and_factors_take_part_only_at_full_detail(
    make_scene: MakeScene, detail: str, full: bool
) -> None:
    Extras.factor_calls = 0
    simulation = {"tiers": [{"id": "t", "tickFrequencySeconds": 0, "detailLevel": detail}], "defaultTier": "t"}
    scene = await make_scene(tiered(simulation), plugins=[Extras()])
    row = (await scene.tick(seed=3)).rows[0]
    assert (row.activity_id == "activity:other", Extras.factor_calls > 0) == (full, full)
    if detail == "schedule_only":
        assert row.activity_id == "activity:top"  # the node's highest weight, no draw
    assert row.suggested is (detail == "full")
    assert (row.score is None) is (detail == "schedule_only")


class Defaults:
    manifest = manifest("defaults", "behavior:configure_simulation")

    def __init__(self, *, hook: dict[str, Any] | None = None) -> None:
        self.hook = hook

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_simulation_defaults(
            {"tiers": [{"id": "static", "tickFrequencySeconds": 0}], "defaultTier": "static"}
        )

    @hookimpl
    async def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any] | None:
        return self.hook


async def test_static_and_hook_defaults_apply_in_worlds_enabling_the_plugin_and_the_world_wins(
    make_scene: MakeScene,
) -> None:
    hook = {"tiers": [{"id": "hooked", "tickFrequencySeconds": 0}], "defaultTier": "hooked"}
    scene = await make_scene(behavior([activity("top")], [all_day(("top", 1.0))]), plugins=[Defaults(hook=hook)])
    assert (await scene.tick()).rows[0].tier == "hooked"  # hook results come after static defaults
    own = {"tiers": [{"id": "mine", "tickFrequencySeconds": 0}], "defaultTier": "mine"}
    await scene.storage.worlds.update_world(scene.world.id, meta=tiered(own))
    assert (await scene.tick()).rows[0].tier == "mine"
    await scene.storage.worlds.update_world(scene.world.id, meta=tiered({}, enabledPlugins=[]))
    assert (await scene.tick()).rows[0].tier == "default"

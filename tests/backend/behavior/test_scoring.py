"""The scoring formula against hand-computed numbers, and the seeded weighted choice."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from pixsim_hooks import NpcSnapshot, SessionSnapshot, WorldSnapshot
from pixsim_hooks.backend.behavior._config import Activity, BehaviorConfig, NpcState, Preferences, ScoringConfig
from pixsim_hooks.backend.behavior._scoring import Factors, Weights, blend, builtin_factors, choose, combine
from pixsim_hooks.backend.behavior._world import TickWorld
from pixsim_hooks.host import WorldScope
from tests.backend.behavior.conftest import CATEGORIES

EVENING = 19 * 3600.0


def tick_world(
    *, relationships: dict[str, Any] | None = None, roles: dict[str, tuple[int, ...]] | None = None
) -> TickWorld:
    categories = [*CATEGORIES[:1], {"id": "social", "label": "Social", "defaultWeight": 0.6}, *CATEGORIES[2:]]
    config = BehaviorConfig.model_validate({"activityCategories": categories})
    npcs = {i: NpcSnapshot(id=i, world_id=1, name=f"N{i}") for i in (1, 2, 3)}
    session = SessionSnapshot(id=1, world_id=1, world_time=0, version=1, relationships=relationships or {})
    return TickWorld(WorldSnapshot(1, "W"), config, session, npcs, {}, roles or {}, WorldScope(1), EVENING)


def score(
    activity: dict[str, Any], *, base: float, state: dict[str, Any], prefs: dict[str, Any], world: TickWorld, **kw: Any
) -> float:
    factors = builtin_factors(
        Activity.model_validate(activity),
        base,
        state=NpcState.model_validate(state),
        preferences=Preferences.model_validate(prefs),
        world=world,
        npc_id=1,
    )
    return combine(
        factors, Weights.of(world.config.scoring_config), kw.get("plugins", []), is_current=kw.get("is_current", False)
    )


def test_every_factor_blended_by_its_default_weight_matches_the_hand_computed_score() -> None:
    activity = {
        "id": "activity:flirt",
        "category": "social",
        "requirements": {"moodTags": ["happy"]},
        "effects": {
            "energyDeltaPerHour": -10,
            "moodImpact": {"valence": 20},
            "relationshipChanges": {"npc:2": {"affinity": 1}},
        },
    }
    state = {"energy": 90, "moodState": {"valence": -40, "tags": ["happy"]}, "currentActivityId": "activity:flirt"}
    prefs = {
        "activityWeights": {"activity:flirt": 0.8},
        "traitModifiers": {"extraversion": 0.9},
        "nightOwl": True,
        "preferredNpcIdsOrRoles": ["role:friend"],
    }
    world = tick_world(relationships={"npc:2": {"affinity": 40}}, roles={"friend": (2,)})
    got = score(
        activity, base=0.7, state=state, prefs=prefs, world=world, plugins=[("plugin:x:f", 2.0)], is_current=True
    )
    # base 0.7 (w 1) = 0.7; activity 0.8 (w 1) = 0.8; category default 0.6 (w 0.8) = 0.68;
    # trait (0.5 + 0.9) * 1.2 night owl = 1.68 (w 0.6) = 1.408; mood tags match 1.5 (w 0.7) = 1.35;
    # relationship (1 + 40/200) * 1.5 preferred = 1.8 (w 0.5) = 1.4; urgency 1.5 rested * 1.5 low mood = 2.25
    # (w 1.2) = 2.5; plugin 2.0 (weight default 1.0) = 2.0; inertia 1.3.
    expected = 0.7 * 0.8 * 0.68 * 1.408 * 1.35 * 1.4 * 2.5 * 2.0 * 1.3
    assert got == pytest.approx(expected)


def test_missing_preferences_count_as_one_half() -> None:
    got = score({"id": "activity:a", "category": "work"}, base=1.0, state={}, prefs={}, world=tick_world())
    # activity 0.5 (w 1) = 0.5; category 0.5 (w 0.8) = 0.6; trait 0.5 + 0.5 = 1; the rest neutral.
    assert got == pytest.approx(0.5 * 0.6)


@pytest.mark.parametrize(
    ("state", "effects", "urgency"),
    [
        ({"energy": 20}, {"energyDeltaPerHour": 10}, 2.0),
        ({"energy": 20}, {"energyDeltaPerHour": -10}, 1.0),
        ({"energy": 85}, {"energyDeltaPerHour": -10}, 1.5),
        ({"energy": 50, "moodState": {"valence": -50}}, {"moodImpact": {"valence": 5}}, 1.5),
    ],
)
def test_urgency_rises_for_rest_when_tired_for_effort_when_rested_and_for_cheer_when_sad(
    state: dict[str, Any], effects: dict[str, Any], urgency: float
) -> None:
    factors = builtin_factors(
        Activity.model_validate({"id": "a", "category": "routine", "effects": effects}),
        1.0,
        state=NpcState.model_validate(state),
        preferences=Preferences(),
        world=tick_world(),
        npc_id=1,
    )
    assert factors.urgency == urgency


def test_an_avoided_npc_halves_the_relationship_factor_and_affinity_moves_it() -> None:
    activity = Activity.model_validate(
        {"id": "a", "category": "social", "requirements": {"requiredNpcRolesOrIds": ["npc:3"]}}
    )
    world = tick_world(relationships={"npc:3": {"affinity": -100}})
    prefs = Preferences.model_validate({"avoidedNpcIdsOrRoles": ["npc:3"]})
    factors = builtin_factors(activity, 1.0, state=NpcState(), preferences=prefs, world=world, npc_id=1)
    assert factors.relationship == pytest.approx((1 - 100 / 200) * 0.5)


def test_a_morning_person_gets_the_trait_bonus_only_in_the_morning() -> None:
    activity = Activity.model_validate({"id": "a", "category": "routine"})
    prefs = Preferences.model_validate({"morningPerson": True})
    world = tick_world()
    assert builtin_factors(activity, 1, state=NpcState(), preferences=prefs, world=world, npc_id=1).trait == 1.0
    morning = replace(world, now=8 * 3600.0)
    assert builtin_factors(activity, 1, state=NpcState(), preferences=prefs, world=morning, npc_id=1).trait == 1.2


def test_a_blend_never_goes_below_zero_and_a_score_never_below_the_floor() -> None:
    assert blend(0.1, 1.2) == 0.0
    assert blend(0.5, 0.0) == 1.0
    zero = Factors(base=0.0, activity=1, category=1, trait=1, mood=1, relationship=1, urgency=1)
    assert combine(zero, Weights.of(ScoringConfig()), [], is_current=True) == 0.001


def test_a_world_weight_tunes_a_plugin_factor() -> None:
    neutral = Factors(base=1, activity=1, category=1, trait=1, mood=1, relationship=1, urgency=1)
    scoring = ScoringConfig.model_validate({"weights": {"plugin:romance:chemistry": 0.25}})
    assert combine(
        neutral, Weights.of(scoring), [("plugin:romance:chemistry", 3.0)], is_current=False
    ) == pytest.approx(1.5)


def test_the_weighted_choice_is_proportional_to_the_scores_and_repeats_with_the_seed() -> None:
    items = [("a", 1.0), ("b", 3.0)]
    rng = random.Random(5)
    counts = Counter(choose(items, rng)[0] for _ in range(4000))  # type: ignore[index]
    assert 0.7 < counts["b"] / 4000 < 0.8
    assert [choose(items, random.Random(9)) for _ in range(3)] == [choose(items, random.Random(9))] * 3
    assert choose([], rng) is None


def test_each_npc_draws_from_its_own_seeded_stream_and_an_unseeded_npc_is_an_error() -> None:
    """No silent fallback to an unseeded random source: that would make a tick unrepeatable."""
    world = tick_world()
    world.rngs.update({1: random.Random("s:1"), 2: random.Random("s:2")})
    assert world.rng_of(1).random() == random.Random("s:1").random()
    assert world.rng_of(2).random() == random.Random("s:2").random()
    with pytest.raises(RuntimeError, match="NPC 3 has no random stream"):
        world.rng_of(3)

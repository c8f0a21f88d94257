"""Behavior JSON: version-1 migration, defaults, and errors that name the JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pixsim_hooks import ConfigError, NpcSnapshot, SessionSnapshot
from pixsim_hooks.backend.behavior import DEFAULT_WEIGHTS, V1_CATEGORIES, load_behavior
from pixsim_hooks.backend.behavior._config import Preferences
from pixsim_hooks.backend.behavior._loading import parse_npc_behavior, parse_session_npc
from pixsim_hooks.backend.behavior._preferences import merge_preferences
from tests.backend.behavior.conftest import activity, all_day, behavior

V1_WORLD: dict[str, Any] = {
    "behavior": {
        "version": 1,
        "activities": [
            {
                "id": "activity:work",
                "name": "Work",
                "category": "work",
                "version": 1,
                "effects": {"energyDeltaPerHour": -5},
            },
            {"id": "activity:nap", "name": "Nap", "category": "routine", "version": 1},
        ],
        "routines": [{**all_day(("work", 1.0)), "version": 1}],
        "scoringConfig": {"version": 1, "weights": {"urgency": 2.0}},
    }
}


def test_a_version_1_world_is_migrated_with_the_old_fixed_categories_and_empty_custom_effects() -> None:
    config = load_behavior(copy.deepcopy(V1_WORLD))
    assert config.version == 2
    assert [c.id for c in config.activity_categories] == list(V1_CATEGORIES)
    assert config.activities[0].effects.custom_effects == ()
    assert config.activities[0].effects.energy_delta_per_hour == -5
    assert {a.version for a in config.activities} == {2}
    assert config.routines[0].version == 2 and config.scoring_config.version == 2
    assert config.scoring_config.weight("urgency") == 2.0


def test_migration_does_not_touch_the_stored_meta_and_a_world_without_version_counts_as_version_1() -> None:
    meta = copy.deepcopy(V1_WORLD)
    del meta["behavior"]["version"]
    load_behavior(meta)
    assert "activityCategories" not in meta["behavior"]
    assert [c.id for c in load_behavior(meta).activity_categories] == list(V1_CATEGORIES)


def test_a_version_1_activity_in_a_category_outside_the_old_list_is_an_error() -> None:
    meta = copy.deepcopy(V1_WORLD)
    meta["behavior"]["activities"][1]["category"] = "romance"
    with pytest.raises(ConfigError) as raised:
        load_behavior(meta)
    assert raised.value.path == "meta.behavior.activities[1].category"


def test_the_default_scoring_weights_are_the_specs() -> None:
    config = load_behavior(behavior([activity("a")]))
    assert {name: config.scoring_config.weight(name) for name in DEFAULT_WEIGHTS} == {
        "baseWeight": 1.0,
        "activityPreference": 1.0,
        "categoryPreference": 0.8,
        "traitModifier": 0.6,
        "moodCompatibility": 0.7,
        "relationshipBonus": 0.5,
        "urgency": 1.2,
        "inertia": 0.3,
    }
    assert config.scoring_config.weight("plugin:romance:chemistry") == 1.0


def test_a_world_without_behavior_has_an_empty_config() -> None:
    assert load_behavior({}).activities == ()
    assert load_behavior(None).routines == ()


def _bad(mutate: Any) -> ConfigError:
    meta = behavior([activity("a"), activity("b"), activity("c")], [all_day(("a", 1.0))])
    mutate(meta["behavior"])
    with pytest.raises(ConfigError) as raised:
        load_behavior(meta)
    return raised.value


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda b: b["activities"][2].update(requirements={"minEnergy": 150}),
            "meta.behavior.activities[2].requirements.minEnergy",
        ),
        (
            lambda b: b["activities"][0].update(requirements={"minEnergi": 5}),
            "meta.behavior.activities[0].requirements.minEnergi",
        ),
        (
            lambda b: b["activities"][1].update(requirements={"conditions": [{"type": "weather_is"}]}),
            "meta.behavior.activities[1].requirements.conditions[0].type",
        ),
        (
            lambda b: b["activities"][1].update(
                requirements={
                    "conditions": [
                        {"type": "relationship_gt", "npcIdOrRole": "npc:1", "metric": "love", "threshold": 1}
                    ]
                }
            ),
            "meta.behavior.activities[1].requirements.conditions[0].metric",
        ),
        (
            lambda b: b["activities"][0].update(effects={"customEffects": [{"type": "give_item"}]}),
            "meta.behavior.activities[0].effects.customEffects[0].type",
        ),
        (
            lambda b: b["activities"][0].update(effects={"flagsSet": {"npcs": {}}}),
            "meta.behavior.activities[0].effects.flagsSet",
        ),
        (lambda b: b["activities"][0].update(category="dance"), "meta.behavior.activities[0].category"),
        (lambda b: b["activities"][2].update(id="activity:a"), "meta.behavior.activities[2].id"),
        (
            lambda b: b["routines"][0]["nodes"][0]["preferredActivities"].append({"activityId": "activity:zzz"}),
            "meta.behavior.routines[0].nodes[0].preferredActivities[1].activityId",
        ),
        (
            lambda b: b["routines"][0].update(edges=[{"fromNodeId": "day", "toNodeId": "night"}]),
            "meta.behavior.routines[0].edges[0].toNodeId",
        ),
        (lambda b: b.update(scoringConfig={"weights": {"urgency": -1}}), "meta.behavior.scoringConfig.weights.urgency"),
        (
            lambda b: b.update(simulationConfig={"tiers": [{"id": "x"}]}),
            "meta.behavior.simulationConfig.tiers[0].tickFrequencySeconds",
        ),
        (lambda b: b.update(version=3), "meta.behavior.version"),
        (lambda b: b.update(activities={"a": 1}), "meta.behavior.activities"),
    ],
    ids=[
        "range",
        "typo",
        "condition-type",
        "condition-field",
        "effect-type",
        "reserved-flag",
        "category",
        "duplicate-id",
        "routine-activity",
        "edge-node",
        "weight",
        "tier",
        "version",
        "shape",
    ],
)
def test_bad_world_json_is_a_config_error_naming_the_json_path(mutate: Any, path: str) -> None:
    error = _bad(mutate)
    assert error.path == path
    assert str(error).startswith(f"{path}: ")


def test_behavior_that_is_not_an_object_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_behavior({"behavior": ["activities"]})
    assert raised.value.path == "meta.behavior"


def test_malformed_enabled_plugins_is_left_to_the_world_scope_not_an_error() -> None:
    load_behavior(behavior([activity("a")], enabledPlugins="weather"))  # fail-closed scoping, never a 422


def test_an_npc_naming_an_unknown_routine_is_a_config_error_naming_the_npc() -> None:
    config = load_behavior(behavior([activity("a")], [all_day(("a", 1.0))]))
    npc = NpcSnapshot(id=7, world_id=1, name="Ann", meta={"behavior": {"routineId": "routine:night"}})
    with pytest.raises(ConfigError) as raised:
        parse_npc_behavior(npc, config)
    assert raised.value.path == "GameNPC[7].meta.behavior.routineId"


def test_bad_session_npc_state_is_a_config_error_naming_the_flag_path() -> None:
    session = SessionSnapshot(
        id=3, world_id=1, world_time=0, version=1, flags={"npcs": {"npc:7": {"state": {"energy": "full"}}}}
    )
    with pytest.raises(ConfigError) as raised:
        parse_session_npc(session, 7)
    assert raised.value.path == 'GameSession[3].flags.npcs["npc:7"].state.energy'


def test_preferences_merge_routine_defaults_then_npc_then_session_later_winning_per_entry() -> None:
    routine = Preferences.model_validate({"categoryWeights": {"work": 0.2, "social": 0.3}, "morningPerson": True})
    npc = Preferences.model_validate({"categoryWeights": {"work": 0.9}, "traitModifiers": {"openness": 0.1}})
    session = Preferences.model_validate({"traitModifiers": {"extraversion": 0.8}, "morningPerson": False})
    merged = merge_preferences(routine, npc, session)
    assert merged.category_weights == {"work": 0.9, "social": 0.3}
    assert (merged.trait_modifiers.openness, merged.trait_modifiers.extraversion) == (0.1, 0.8)
    assert merged.morning_person is False

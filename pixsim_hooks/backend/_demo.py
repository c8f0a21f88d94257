"""The demo world ``pixsim-hooks seed-demo`` creates: a small harbor town in behavior model version 2.

The data follows /work/shared/behavior-model.md: activities, categories, one routine and the scoring and
simulation config in ``GameWorld.meta.behavior``; preferences and a routine id in each ``GameNPC.meta.behavior``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixsim_hooks.backend._services import GameService
from pixsim_hooks.backend.behavior._config import DEFAULT_WEIGHTS
from pixsim_hooks.plugin import LocationSnapshot, NpcSnapshot, SessionSnapshot, WorldSnapshot

__all__ = [
    "DEMO_PLUGINS",
    "DEMO_WORLD_NAME",
    "DemoWorld",
    "find_demo_world",
    "seed_demo_world",
]

DEMO_WORLD_NAME = "Demo Harbor"
DEMO_PLUGINS = ("stealth", "audit", "gossip")  # gossip runs sandboxed (a community plugin)
BEHAVIOR_VERSION = 2


@dataclass(frozen=True, slots=True)
class DemoWorld:
    world: WorldSnapshot
    locations: tuple[LocationSnapshot, ...]
    npcs: tuple[NpcSnapshot, ...]
    session: SessionSnapshot


def _activity(slug: str, name: str, category: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"activity:{slug}", "name": name, "category": category, "version": BEHAVIOR_VERSION, **extra}


ACTIVITY_CATEGORIES = [
    {"id": "work", "label": "Work", "defaultWeight": 0.8},
    {"id": "social", "label": "Social", "defaultWeight": 0.6},
    {"id": "leisure", "label": "Leisure", "defaultWeight": 0.5},
    {"id": "routine", "label": "Routine", "defaultWeight": 0.7},
]

ACTIVITIES = [
    _activity(
        "tend_stall",
        "Tend the market stall",
        "work",
        requirements={"locationTypes": ["market"], "minEnergy": 20, "timeOfDay": "morning"},
        effects={"energyDeltaPerHour": -8, "moodImpact": {"valence": 0.1, "arousal": 0.2}},
        minDurationSeconds=3600,
    ),
    _activity(
        "haul_nets",
        "Haul the nets",
        "work",
        requirements={"locationTypes": ["docks"], "minEnergy": 40},
        effects={"energyDeltaPerHour": -15},
        minDurationSeconds=1800,
    ),
    _activity(
        "gossip",
        "Trade gossip",
        "social",
        requirements={"conditions": [{"type": "energy_between", "min": 10, "max": 100}]},
        effects={
            "moodImpact": {"valence": 0.3, "arousal": 0.1},
            "relationshipChanges": {"role:friend": {"affinity": 1}},
        },
        cooldownSeconds=1800,
    ),
    _activity(
        "drink_at_tavern",
        "Drink at the tavern",
        "leisure",
        requirements={"locationTypes": ["tavern"], "timeOfDay": "evening"},
        effects={"energyDeltaPerHour": -3, "moodImpact": {"valence": 0.4, "arousal": 0.3}},
    ),
    _activity("sleep", "Sleep", "routine", effects={"energyDeltaPerHour": 12}, minDurationSeconds=21600),
]

HOUR = 3600
ROUTINE = {
    "id": "routine:harbor_daily",
    "name": "Harbor day",
    "version": BEHAVIOR_VERSION,
    "nodes": [
        {
            "id": "morning",
            "nodeType": "time_slot",
            "timeRangeSeconds": {"start": 6 * HOUR, "end": 12 * HOUR},
            "preferredActivities": [
                {"activityId": "activity:tend_stall", "weight": 0.7},
                {"activityId": "activity:haul_nets", "weight": 0.5},
            ],
        },
        {
            "id": "afternoon",
            "nodeType": "time_slot",
            "timeRangeSeconds": {"start": 12 * HOUR, "end": 18 * HOUR},
            "preferredActivities": [
                {"activityId": "activity:gossip", "weight": 0.6},
                {"activityId": "activity:tend_stall", "weight": 0.4},
            ],
        },
        {
            "id": "evening",
            "nodeType": "time_slot",
            "timeRangeSeconds": {"start": 18 * HOUR, "end": 24 * HOUR},
            "preferredActivities": [
                {"activityId": "activity:drink_at_tavern", "weight": 0.6},
                {"activityId": "activity:sleep", "weight": 0.4},
            ],
        },
    ],
    "edges": [
        {"fromNodeId": "morning", "toNodeId": "afternoon"},
        {"fromNodeId": "afternoon", "toNodeId": "evening"},
        {"fromNodeId": "evening", "toNodeId": "morning"},
    ],
    "defaultPreferences": {"categoryWeights": {"work": 0.6, "social": 0.5, "leisure": 0.5, "routine": 0.5}},
}

SCORING_CONFIG = {
    "version": BEHAVIOR_VERSION,
    "weights": dict(DEFAULT_WEIGHTS),  # spelled out in the demo world so operators see what they can tune
}

SIMULATION_CONFIG = {
    "version": BEHAVIOR_VERSION,
    "tiers": [
        {"id": "same_location", "tickFrequencySeconds": 1, "detailLevel": "full"},
        {"id": "nearby", "tickFrequencySeconds": 60, "detailLevel": "simplified"},
        {"id": "far_away", "tickFrequencySeconds": 3600, "detailLevel": "schedule_only"},
    ],
    "priorityRules": [{"condition": "same_location", "tier": "same_location", "priority": 10}],
    "defaultTier": "far_away",
}

WORLD_META = {
    "behavior": {
        "version": BEHAVIOR_VERSION,
        "activityCategories": ACTIVITY_CATEGORIES,
        "activities": ACTIVITIES,
        "routines": [ROUTINE],
        "scoringConfig": SCORING_CONFIG,
        "simulationConfig": SIMULATION_CONFIG,
        "enabledPlugins": list(DEMO_PLUGINS),
    }
}

LOCATIONS = [
    ("Fish Market", {"locationType": "market"}),
    ("North Docks", {"locationType": "docks"}),
    ("The Salty Gull", {"locationType": "tavern"}),
]


def _npc_meta(activity_weights: dict[str, float], *, morning: bool, extraversion: float) -> dict[str, Any]:
    preferences = {
        "activityWeights": activity_weights,
        "morningPerson": morning,
        "nightOwl": not morning,
        "traitModifiers": {"extraversion": extraversion},
    }
    return {"behavior": {"routineId": ROUTINE["id"], "preferences": preferences}}


NPCS = [
    (
        "Marta the fishmonger",
        _npc_meta({"activity:tend_stall": 0.9, "activity:gossip": 0.6}, morning=True, extraversion=0.7),
    ),
    ("Old Bram", _npc_meta({"activity:haul_nets": 0.8, "activity:sleep": 0.7}, morning=True, extraversion=0.3)),
    (
        "Lio the deckhand",
        _npc_meta({"activity:haul_nets": 0.6, "activity:drink_at_tavern": 0.9}, morning=False, extraversion=0.8),
    ),
    (
        "Sera the innkeeper",
        _npc_meta({"activity:gossip": 0.8, "activity:drink_at_tavern": 0.5}, morning=False, extraversion=0.9),
    ),
]


async def find_demo_world(service: GameService) -> WorldSnapshot | None:
    return next((w for w in await service.list_worlds() if w.name == DEMO_WORLD_NAME), None)


async def seed_demo_world(service: GameService) -> DemoWorld:
    """Create the demo world, its locations and NPCs, and one session with the player at the market."""
    world = await service.create_world(DEMO_WORLD_NAME, WORLD_META)
    locations = tuple([await service.create_location(world.id, name, meta) for name, meta in LOCATIONS])
    npcs = tuple([await service.create_npc(world.id, name, meta) for name, meta in NPCS])
    session = await service.create_session(world.id, flags={"location_id": locations[0].id})
    return DemoWorld(world, locations, npcs, session)

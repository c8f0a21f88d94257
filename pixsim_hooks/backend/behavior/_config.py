"""Pydantic models of the behavior JSON (behavior-model.md, version 2), in the field names PixSim uses.

Python attributes are snake_case; the JSON is camelCase (``min_energy`` ↔ ``minEnergy``). Records the model defines
completely (requirements, effects, conditions, tiers, ...) forbid unknown keys so that a typo is an error naming its
path instead of a silently ignored setting; containers that other tools may extend (``meta.behavior``, activities,
routines, NPC ``meta.behavior``) ignore keys they do not know. Loading and error paths: :mod:`._loading`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "Activity",
    "ActivityCategory",
    "BehaviorConfig",
    "CONDITION_TYPES",
    "Condition",
    "CustomEffect",
    "DEFAULT_WEIGHTS",
    "Effects",
    "NpcBehavior",
    "NpcState",
    "PartialSimulationConfig",
    "Preferences",
    "PriorityRule",
    "Requirements",
    "Routine",
    "RoutineEdge",
    "RoutineNode",
    "ScoringConfig",
    "Tier",
]

BEHAVIOR_VERSION = 2
TimeOfDay = Literal["morning", "afternoon", "evening", "night"]
Metric = Literal["affinity", "trust", "chemistry", "tension"]
DetailLevel = Literal["full", "simplified", "schedule_only"]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Signed100 = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=200)]
Version = Annotated[int, Field(ge=1, le=BEHAVIOR_VERSION)]
# "npc:<id>", "role:<key>" or "self" (the NPC deciding).
NpcRef = Annotated[str, Field(pattern=r"^(npc:[0-9]+|role:[A-Za-z0-9_.-]+|self)$")]
ExtensionId = Annotated[str, Field(pattern=r"^(core|plugin:[a-z][a-z0-9_-]*):[a-z][a-z0-9_]*$")]
EffectType = Annotated[str, Field(pattern=r"^effect:(core|plugin:[a-z][a-z0-9_-]*):[a-z][a-z0-9_]*$")]

DEFAULT_WEIGHTS: dict[str, float] = {
    "baseWeight": 1.0,
    "activityPreference": 1.0,
    "categoryPreference": 0.8,
    "traitModifier": 0.6,
    "moodCompatibility": 0.7,
    "relationshipBonus": 0.5,
    "urgency": 1.2,
    "inertia": 0.3,
}


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _location_id(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("location:") and value[9:].isdigit():
        return int(value[9:])
    return value


def _condition_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class _Closed(BaseModel):
    """A record the spec defines completely: unknown keys are errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class _Open(BaseModel):
    """A record other tools may extend: unknown keys are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


# -- conditions -----------------------------------------------------------------------------------------------------
class RelationshipGt(_Closed):
    type: Literal["relationship_gt"]
    npc_id_or_role: NpcRef
    metric: Metric
    threshold: Finite


class FlagEquals(_Closed):
    type: Literal["flag_equals"]
    key: Id
    value: Any = None


class MoodIn(_Closed):
    type: Literal["mood_in"]
    mood_tags: Annotated[tuple[str, ...], Field(min_length=1)]


class EnergyBetween(_Closed):
    type: Literal["energy_between"]
    min: Percent = 0.0
    max: Percent = 100.0

    @model_validator(mode="after")
    def _ordered(self) -> EnergyBetween:
        if self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


class RandomChance(_Closed):
    type: Literal["random_chance"]
    probability: Unit


class TimeOfDayIn(_Closed):
    type: Literal["time_of_day_in"]
    times: Annotated[tuple[TimeOfDay, ...], Field(min_length=1), BeforeValidator(_one_or_many)]


class Custom(_Closed):
    type: Literal["custom"]
    evaluator_id: ExtensionId
    params: dict[str, Any] = Field(default_factory=dict)


class SameLocation(_Closed):
    """The NPC is where the player is (``flags.location_id``). Meant for tier rules; usable anywhere."""

    type: Literal["same_location"]


class Nearby(_Closed):
    """The NPC is at the player's location or one listed in either location's ``meta.nearbyLocationIds``."""

    type: Literal["nearby"]


Condition = Annotated[
    RelationshipGt | FlagEquals | MoodIn | EnergyBetween | RandomChance | TimeOfDayIn | Custom | SameLocation | Nearby,
    Field(discriminator="type"),
]
CONDITION_TYPES = frozenset(
    {
        "relationship_gt",
        "flag_equals",
        "mood_in",
        "energy_between",
        "random_chance",
        "time_of_day_in",
        "custom",
        "same_location",
        "nearby",
    }
)


# -- activities -----------------------------------------------------------------------------------------------------
class Requirements(_Closed):
    location_types: tuple[str, ...] = ()
    required_npc_roles_or_ids: tuple[NpcRef, ...] = ()
    min_energy: Percent | None = None
    max_energy: Percent | None = None
    mood_tags: tuple[str, ...] = ()
    time_of_day: Annotated[tuple[TimeOfDay, ...], BeforeValidator(_one_or_many)] = ()
    conditions: tuple[Condition, ...] = ()


class MoodImpact(_Closed):
    valence: Signed100 = 0.0
    arousal: Signed100 = 0.0


class RelationshipDelta(_Closed):
    affinity: Signed100 | None = None
    trust: Signed100 | None = None
    chemistry: Signed100 | None = None
    tension: Signed100 | None = None


class CustomEffect(_Closed):
    type: EffectType
    params: dict[str, Any] = Field(default_factory=dict)


class Effects(_Closed):
    energy_delta_per_hour: Signed100 | None = None
    mood_impact: MoodImpact | None = None
    relationship_changes: dict[NpcRef, RelationshipDelta] = Field(default_factory=dict)
    flags_set: dict[str, Any] = Field(default_factory=dict)
    custom_effects: tuple[CustomEffect, ...] = ()

    @field_validator("flags_set")
    @classmethod
    def _world_keys_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        # "npcs" holds the engine's NPC state and "plugin:<id>:" keys belong to plugins: a world may set neither.
        for key in value:
            if not key or key == "npcs" or key.startswith("plugin:"):
                raise ValueError(f"flag key {key!r} is reserved (empty, 'npcs' or a plugin namespace)")
        return value


class Activity(_Open):
    id: Id
    name: str = ""
    category: Id
    version: Version = BEHAVIOR_VERSION
    requirements: Requirements = Requirements()
    effects: Effects = Effects()
    visual: dict[str, Any] | None = None
    min_duration_seconds: NonNegative | None = None
    cooldown_seconds: NonNegative | None = None
    meta: dict[str, Any] | None = None


class ActivityCategory(_Open):
    id: Id
    label: str = ""
    default_weight: NonNegative | None = None
    version: Version = BEHAVIOR_VERSION


# -- preferences and routines ---------------------------------------------------------------------------------------
class TraitModifiers(_Closed):
    extraversion: Unit | None = None
    conscientiousness: Unit | None = None
    openness: Unit | None = None


class Preferences(_Open):
    activity_weights: dict[str, Unit] = Field(default_factory=dict)
    category_weights: dict[str, Unit] = Field(default_factory=dict)
    preferred_npc_ids_or_roles: tuple[NpcRef, ...] = ()
    avoided_npc_ids_or_roles: tuple[NpcRef, ...] = ()
    favorite_locations: tuple[Annotated[int, BeforeValidator(_location_id)], ...] = ()
    morning_person: bool = False
    night_owl: bool = False
    trait_modifiers: TraitModifiers = TraitModifiers()


class TimeRange(_Closed):
    start: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]
    end: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]

    def contains(self, seconds_of_day: float) -> bool:
        if self.start <= self.end:
            return self.start <= seconds_of_day < self.end
        return seconds_of_day >= self.start or seconds_of_day < self.end  # wraps past midnight


class PreferredActivity(_Closed):
    activity_id: Id
    weight: NonNegative = 1.0
    conditions: tuple[Condition, ...] = ()


class RoutineNode(_Open):
    id: Id
    node_type: Literal["time_slot", "decision", "activity"]
    time_range_seconds: TimeRange | None = None
    preferred_activities: tuple[PreferredActivity, ...] = ()
    decision_conditions: tuple[Condition, ...] = ()


class RoutineEdge(_Open):
    from_node_id: Id
    to_node_id: Id
    conditions: tuple[Condition, ...] = ()
    weight: NonNegative = 1.0
    transition_effects: Effects | None = None


class Routine(_Open):
    id: Id
    name: str = ""
    version: Version = BEHAVIOR_VERSION
    nodes: Annotated[tuple[RoutineNode, ...], Field(min_length=1)]
    edges: tuple[RoutineEdge, ...] = ()
    default_preferences: Preferences | None = None


# -- scoring and simulation -----------------------------------------------------------------------------------------
class ScoringConfig(_Open):
    version: Version = BEHAVIOR_VERSION
    # Built-in weights by name plus plugin factor weights by factor id ("plugin:romance:chemistry"), default 1.0.
    weights: dict[str, NonNegative] = Field(default_factory=dict)

    def weight(self, name: str) -> float:
        return self.weights.get(name, DEFAULT_WEIGHTS.get(name, 1.0))


class Tier(_Closed):
    id: Id
    tick_frequency_seconds: NonNegative
    detail_level: DetailLevel = "full"


class PriorityRule(_Closed):
    # A condition object, or the name of a condition without fields ("same_location"); None always matches.
    condition: Annotated[Condition | None, BeforeValidator(_condition_shorthand)] = None
    tier: Id
    priority: Finite = 0.0


class PartialSimulationConfig(_Closed):
    """A simulation config as authored: every key optional (plugins' defaults fill the gaps; the world wins)."""

    version: Version = BEHAVIOR_VERSION
    tiers: tuple[Tier, ...] | None = None
    priority_rules: tuple[PriorityRule, ...] | None = None
    default_tier: Id | None = None
    max_npcs_per_tick: Annotated[int, Field(ge=1)] | None = None


class BehaviorConfig(_Open):
    """``GameWorld.meta.behavior``. ``enabledPlugins`` is read by the host's world scope, not here (decision 8)."""

    version: Literal[2] = 2
    activities: tuple[Activity, ...] = ()
    activity_categories: tuple[ActivityCategory, ...] = ()
    routines: tuple[Routine, ...] = ()
    scoring_config: ScoringConfig = ScoringConfig()
    simulation_config: PartialSimulationConfig | None = None


# -- NPC and session data -------------------------------------------------------------------------------------------
class NpcBehavior(_Open):
    """``GameNPC.meta.behavior``. ``roles`` are what ``role:<key>`` references match."""

    routine_id: Id | None = None
    preferences: Preferences | None = None
    roles: tuple[str, ...] = ()


class MoodState(_Open):
    valence: Signed100 = 0.0
    arousal: Signed100 = 0.0
    tags: tuple[str, ...] = ()


class NpcState(_Open):
    """``flags.npcs["npc:<id>"].state``, written by the engine. Keys it does not know are kept as they are."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=False, extra="allow")

    energy: Percent = 50.0
    current_activity_id: str | None = None
    activity_started_at_seconds: Finite | None = None
    next_decision_at_seconds: Finite | None = None
    mood_state: MoodState = MoodState()
    location_id: int | None = None
    routine_node_id: str | None = None
    last_simulated_at_seconds: Finite | None = None
    # activity id → world time from which it may be chosen again
    cooldowns: dict[str, Finite] = Field(default_factory=dict)

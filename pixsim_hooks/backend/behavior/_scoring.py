"""Scoring candidate activities and the seeded weighted choice (behavior-model.md, "Scoring").

``score = base * activityPref * categoryPref * trait * mood * relationship * urgency * plugin factors``, where each
factor ``f`` is blended by its weight ``w`` as ``f' = max(0, 1 + (f - 1) * w)`` (clamped at 0 so that two negative
blends cannot multiply into a positive score), the current activity gets ``* (1 + inertia)``, and the result is
floored at 0.001. Plugin factors are blended the same way with ``scoringConfig.weights[<factor id>]`` (default 1).

The raw factors:

- base: the routine node's weight for the activity (a plugin suggestion outside the node: 0.5)
- activityPref: ``activityWeights[id]``; categoryPref: ``categoryWeights[category]``, else the category's
  ``defaultWeight``; a missing preference counts as 0.5
- trait: ``0.5 + trait`` (traits 0-1, missing 0.5) for social → extraversion, work → conscientiousness,
  leisure / quest → openness; * 1.2 for a ``morningPerson`` in the morning and a ``nightOwl`` in the evening or night
- mood: 1 without ``requirements.moodTags``; 1.5 when the NPC's mood tags share one, else 0.5 (mood tags are a soft
  requirement, scored here; a ``mood_in`` condition is the hard gate)
- relationship: 1 when no other NPC is involved; else ``1 + mean affinity / 200`` over the NPCs named by
  ``requiredNpcRolesOrIds`` and ``relationshipChanges`` (affinity -100..100, missing 0), * 1.5 if one of them is
  preferred and * 0.5 if one is avoided
- urgency: * 2 when energy < 30 and the activity restores energy, * 1.5 when energy > 80 and it spends energy,
  * 1.5 when mood valence < -30 and it lifts the mood
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from pixsim_hooks.backend.behavior._conditions import metric_of
from pixsim_hooks.backend.behavior._config import Activity, NpcState, Preferences, ScoringConfig
from pixsim_hooks.backend.behavior._world import TickWorld

__all__ = [
    "Factors",
    "SUGGESTED_BASE_WEIGHT",
    "WEIGHT_NAMES",
    "Weights",
    "blend",
    "builtin_factors",
    "choose",
    "combine",
]

T = TypeVar("T")
MISSING_PREFERENCE = 0.5
SUGGESTED_BASE_WEIGHT = 0.5
SCORE_FLOOR = 0.001
_TRAIT_OF_CATEGORY = {
    "social": "extraversion",
    "work": "conscientiousness",
    "leisure": "openness",
    "quest": "openness",
}


class Factors(NamedTuple):
    """The raw built-in factors of one activity for one NPC, in the order of :data:`WEIGHT_NAMES`."""

    base: float
    activity: float
    category: float
    trait: float
    mood: float
    relationship: float
    urgency: float


WEIGHT_NAMES = (
    "baseWeight",
    "activityPreference",
    "categoryPreference",
    "traitModifier",
    "moodCompatibility",
    "relationshipBonus",
    "urgency",
)


@dataclass(frozen=True, slots=True)
class Weights:
    """A world's scoring weights resolved once per tick (a tick scores thousands of candidates)."""

    builtin: tuple[float, ...]
    inertia: float
    plugin: Mapping[str, float]  # by factor id; those not given weigh 1.0

    @classmethod
    def of(cls, scoring: ScoringConfig) -> Weights:
        builtin = tuple(scoring.weight(name) for name in WEIGHT_NAMES)
        return cls(builtin, scoring.weight("inertia"), {k: v for k, v in scoring.weights.items() if ":" in k})


def blend(factor: float, weight: float) -> float:
    return max(0.0, 1.0 + (factor - 1.0) * weight)


def combine(
    factors: Factors, weights: Weights, plugin_factors: Sequence[tuple[str, float]], *, is_current: bool
) -> float:
    score = 1.0
    for value, weight in zip(factors, weights.builtin, strict=True):
        score *= max(0.0, 1.0 + (value - 1.0) * weight)  # blend(), inlined: this runs per factor per candidate
    for factor_id, value in plugin_factors:
        score *= blend(value, weights.plugin.get(factor_id, 1.0))
    if is_current:
        score *= 1.0 + weights.inertia
    return max(SCORE_FLOOR, score)


def builtin_factors(
    activity: Activity,
    base: float,
    *,
    state: NpcState,
    preferences: Preferences,
    world: TickWorld,
    npc_id: int,
) -> Factors:
    return Factors(
        base=base,
        activity=preferences.activity_weights.get(activity.id, MISSING_PREFERENCE),
        category=_category_preference(activity, preferences, world),
        trait=_trait(activity, preferences, world.time_of_day),
        mood=_mood(activity, state),
        relationship=_relationship(activity, preferences, world, npc_id),
        urgency=_urgency(activity, state),
    )


def _category_preference(activity: Activity, preferences: Preferences, world: TickWorld) -> float:
    if activity.category in preferences.category_weights:
        return preferences.category_weights[activity.category]
    default = world.category_defaults.get(activity.category)
    return MISSING_PREFERENCE if default is None else default


def _trait(activity: Activity, preferences: Preferences, time_of_day: str) -> float:
    factor = 1.0
    trait = _TRAIT_OF_CATEGORY.get(activity.category)
    if trait is not None:
        value = getattr(preferences.trait_modifiers, trait)
        factor = 0.5 + (MISSING_PREFERENCE if value is None else value)
    if preferences.morning_person and time_of_day == "morning":
        factor *= 1.2
    if preferences.night_owl and time_of_day in ("evening", "night"):
        factor *= 1.2
    return factor


def _mood(activity: Activity, state: NpcState) -> float:
    wanted = activity.requirements.mood_tags
    if not wanted:
        return 1.0
    return 1.5 if any(tag in state.mood_state.tags for tag in wanted) else 0.5


def involved_refs(activity: Activity) -> tuple[str, ...]:
    refs = (*activity.requirements.required_npc_roles_or_ids, *activity.effects.relationship_changes)
    return tuple(dict.fromkeys(refs))


def _relationship(activity: Activity, preferences: Preferences, world: TickWorld, npc_id: int) -> float:
    refs = involved_refs(activity)
    if not refs:
        return 1.0
    ids = sorted({i for ref in refs for i in world.npc_ids(ref, npc_id)})
    affinities = [metric_of(world.session.relationships, f"npc:{i}", "affinity") for i in ids]
    factor = 1.0 + (sum(affinities) / len(affinities)) / 200 if affinities else 1.0
    if _names_any(refs, ids, preferences.preferred_npc_ids_or_roles, world):
        factor *= 1.5
    if _names_any(refs, ids, preferences.avoided_npc_ids_or_roles, world):
        factor *= 0.5
    return factor


def _names_any(refs: Sequence[str], ids: Sequence[int], listed: Sequence[str], world: TickWorld) -> bool:
    """Some involved NPC is on the list: the same reference, its ``npc:<id>``, or one of its roles."""
    return any(entry in refs or any(entry == f"npc:{i}" or world.has_role(i, entry) for i in ids) for entry in listed)


def _urgency(activity: Activity, state: NpcState) -> float:
    rate = activity.effects.energy_delta_per_hour or 0.0
    lift = activity.effects.mood_impact.valence if activity.effects.mood_impact is not None else 0.0
    factor = 1.0
    if state.energy < 30 and rate > 0:
        factor *= 2.0
    elif state.energy > 80 and rate < 0:
        factor *= 1.5
    if state.mood_state.valence < -30 and lift > 0:
        factor *= 1.5
    return factor


def choose(scored: Sequence[tuple[T, float]], rng: random.Random) -> tuple[T, float] | None:
    """Weighted random choice by score (scores are floored, so every candidate has a chance)."""
    if not scored:
        return None
    point = rng.random() * sum(score for _, score in scored)
    for item, score in scored:
        point -= score
        if point < 0:
            return item, score
    return scored[-1]  # only reachable through float rounding at the very end

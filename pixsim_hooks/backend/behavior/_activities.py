"""Activities ready for a tick: compiled conditions and effects, and whether one is feasible for an NPC now.

Requirements:

- ``locationTypes``: the world has a location of one of these types (``location.meta.locationType``); starting
  the activity moves the NPC there (see :func:`destination`);
- ``requiredNpcRolesOrIds``: each reference names at least one other NPC of the world (``self`` always does);
- ``minEnergy`` / ``maxEnergy``, ``timeOfDay``; ``conditions`` (all must hold, through the registry);
- ``moodTags`` is scored (mood compatibility), not required.

An activity on cooldown (``cooldownSeconds`` after it ended) is not feasible; carrying on with the current
activity is always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.backend.behavior._conditions import CompiledCondition, all_hold, compile_condition
from pixsim_hooks.backend.behavior._config import Activity, BehaviorConfig, NpcState, Preferences, Requirements
from pixsim_hooks.backend.behavior._effects import CompiledEffect, compile_effects
from pixsim_hooks.backend.behavior._world import TickWorld
from pixsim_hooks.plugin import FrozenDict, NpcView, freeze

__all__ = ["CompiledActivity", "compile_activities", "destination", "feasible"]


@dataclass(frozen=True, slots=True)
class CompiledActivity:
    activity: Activity
    json: FrozenDict  # the activity as scoring factors receive it (camelCase JSON, read-only)
    conditions: tuple[CompiledCondition, ...]
    effects: tuple[CompiledEffect, ...]

    @property
    def id(self) -> str:
        return self.activity.id


def compile_activities(config: BehaviorConfig) -> dict[str, CompiledActivity]:
    return {
        activity.id: CompiledActivity(
            activity=activity,
            json=freeze(activity.model_dump(mode="json", by_alias=True, exclude_none=True)),
            conditions=tuple(compile_condition(c) for c in activity.requirements.conditions),
            effects=compile_effects(activity.effects),
        )
        for activity in config.activities
    }


async def feasible(
    candidate: CompiledActivity,
    extra: tuple[CompiledCondition, ...],
    *,
    calls: ExtensionCalls,
    view: NpcView,
    state: NpcState,
    world: TickWorld,
) -> bool:
    """Off cooldown, the requirements met, then the activity's and the routine entry's conditions hold."""
    activity = candidate.activity
    if activity.id != state.current_activity_id and state.cooldowns.get(activity.id, world.now) > world.now:
        return False
    if not _requirements_met(activity.requirements, state, world, view.npc.id):
        return False
    return await all_hold(calls, candidate.conditions, view) and await all_hold(calls, extra, view)


def _requirements_met(requirements: Requirements, state: NpcState, world: TickWorld, npc_id: int) -> bool:
    if requirements.min_energy is not None and state.energy < requirements.min_energy:
        return False
    if requirements.max_energy is not None and state.energy > requirements.max_energy:
        return False
    if requirements.time_of_day and world.time_of_day not in requirements.time_of_day:
        return False
    if requirements.location_types and not _locations_of_types(world, requirements.location_types):
        return False
    return all(_someone_else(world, ref, npc_id) for ref in requirements.required_npc_roles_or_ids)


def _someone_else(world: TickWorld, ref: str, npc_id: int) -> bool:
    return ref == "self" or any(other != npc_id for other in world.npc_ids(ref, npc_id))


def _locations_of_types(world: TickWorld, types: tuple[str, ...]) -> list[int]:
    return [lid for lid in sorted(world.locations) if world.location_type(lid) in types]


def destination(activity: Activity, state: NpcState, preferences: Preferences, world: TickWorld) -> int | None:
    """Where the NPC does ``activity``: where it is when that fits (or the activity names no location type), else
    its first favourite location of a fitting type, else the fitting location with the lowest id."""
    types = activity.requirements.location_types
    if not types or world.location_type(state.location_id) in types:
        return state.location_id
    fitting = _locations_of_types(world, types)
    favourite = next((lid for lid in preferences.favorite_locations if lid in fitting), None)
    return favourite if favourite is not None else (fitting[0] if fitting else state.location_id)

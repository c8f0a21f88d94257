"""The built-in conditions (registered as ``core:<type>``) and evaluating condition lists through the registry.

Every condition, built-in or custom, is evaluated the same way: ``core:relationship_gt`` and
``plugin:weather:is_raining`` are both registry entries called through ``host.call_extension``. A condition's JSON
fields (minus ``type``) are its ``params``; a custom condition's ``params`` are its own.

Relationship metrics missing from the session count as 0, the value the session store starts them from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.backend.behavior._config import Condition, Custom
from pixsim_hooks.backend.behavior._world import current_world
from pixsim_hooks.plugin import FrozenDict, NpcView, freeze

__all__ = [
    "CORE_CONDITIONS",
    "CompiledCondition",
    "all_hold",
    "compile_condition",
    "metric_of",
]

CompiledCondition = tuple[str, FrozenDict]
"""(evaluator id, params)."""


def compile_condition(condition: Condition) -> CompiledCondition:
    if isinstance(condition, Custom):
        params: FrozenDict = freeze(condition.params)
        return condition.evaluator_id, params
    data = condition.model_dump(mode="json", by_alias=True)
    return f"core:{data.pop('type')}", freeze(data)


async def all_hold(calls: ExtensionCalls, conditions: Sequence[CompiledCondition], view: NpcView) -> bool:
    """Every condition holds (evaluated in order, stopping at the first that does not)."""
    for evaluator_id, params in conditions:
        if not await calls.condition(evaluator_id, params, view):
            return False
    return True


def metric_of(relationships: Mapping[str, Any], npc_key: str, metric: str) -> float:
    entry = relationships.get(npc_key)
    value = entry.get(metric) if isinstance(entry, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


# -- the built-ins: fn(ctx=None, params, view) -> bool ----------------------------------------------------------------
def relationship_gt(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    """Some NPC the reference names has ``metric`` above ``threshold`` (``role:<key>``: any holder of the role)."""
    ids = current_world().npc_ids(params["npcIdOrRole"], view.npc.id)
    metric, threshold = params["metric"], params["threshold"]
    return any(metric_of(view.session.relationships, f"npc:{i}", metric) > threshold for i in ids)


def flag_equals(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    key = params["key"]
    return bool(key in view.session.flags and view.session.flags[key] == params["value"])


def mood_in(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    tags = view.state.get("moodState", {}).get("tags", ())
    return any(tag in tags for tag in params["moodTags"])


def energy_between(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    return bool(params["min"] <= view.state["energy"] <= params["max"])


def random_chance(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    """Drawn from the deciding NPC's seeded stream, so a tick is repeatable."""
    return bool(current_world().rng_of(view.npc.id).random() < params["probability"])


def time_of_day_in(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    return view.time_of_day in params["times"]


def same_location(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    player = current_world().player_location()
    return player is not None and view.state.get("locationId") == player


def nearby(ctx: None, params: Mapping[str, Any], view: NpcView) -> bool:
    world = current_world()
    return world.nearby(view.state.get("locationId"), world.player_location())


CORE_CONDITIONS = {
    "relationship_gt": relationship_gt,
    "flag_equals": flag_equals,
    "mood_in": mood_in,
    "energy_between": energy_between,
    "random_chance": random_chance,
    "time_of_day_in": time_of_day_in,
    "same_location": same_location,
    "nearby": nearby,
}

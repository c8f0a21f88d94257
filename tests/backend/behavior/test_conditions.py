"""Every built-in condition, and custom evaluators' result rules, through a real tick: an activity gated by the
condition is started when it holds and the NPC stays idle when it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

from pixsim_hooks import hookimpl
from pixsim_hooks.plugin import ExtensionKind, SessionChange
from tests.backend.behavior.conftest import HOUR, MakeScene, Scene, activity, all_day, behavior, manifest, npc_meta


async def gated_scene(make_scene: MakeScene, condition: dict[str, Any], *, plugins: Any = (), **kw: Any) -> Scene:
    meta = behavior([activity("gated", requirements={"conditions": [condition]})], [all_day(("gated", 1.0))], **kw)
    friend = npc_meta(None, roles=["friend"])
    return await make_scene(meta, npcs=[npc_meta(), friend], plugins=plugins, world_time=8 * HOUR)


async def started(scene: Scene) -> bool:
    report = await scene.tick()
    return report.rows[0].activity_id == "activity:gated"


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    (
        "relationship_gt-self",
        {"type": "relationship_gt", "npcIdOrRole": "self", "metric": "trust", "threshold": 10},
        {"rel": {0: {"trust": 11}}},
        True,
    ),
    (
        "relationship_gt-self-below",
        {"type": "relationship_gt", "npcIdOrRole": "self", "metric": "trust", "threshold": 10},
        {"rel": {0: {"trust": 10}}},
        False,
    ),
    (
        "relationship_gt-role",
        {"type": "relationship_gt", "npcIdOrRole": "role:friend", "metric": "affinity", "threshold": 0},
        {"rel": {1: {"affinity": 5}}},
        True,
    ),
    (
        "relationship_gt-missing",
        {"type": "relationship_gt", "npcIdOrRole": "role:friend", "metric": "affinity", "threshold": 0},
        {},
        False,
    ),
    ("flag_equals", {"type": "flag_equals", "key": "door", "value": "open"}, {"flags": {"door": "open"}}, True),
    ("flag_equals-other", {"type": "flag_equals", "key": "door", "value": "open"}, {"flags": {"door": "shut"}}, False),
    ("flag_equals-absent-null", {"type": "flag_equals", "key": "door", "value": None}, {}, False),
    (
        "mood_in",
        {"type": "mood_in", "moodTags": ["calm", "happy"]},
        {"state": {"moodState": {"tags": ["happy"]}}},
        True,
    ),
    ("mood_in-other", {"type": "mood_in", "moodTags": ["sad"]}, {"state": {"moodState": {"tags": ["happy"]}}}, False),
    ("energy_between", {"type": "energy_between", "min": 40, "max": 60}, {"state": {"energy": 60}}, True),
    ("energy_between-out", {"type": "energy_between", "min": 61, "max": 100}, {"state": {"energy": 60}}, False),
    ("random_chance-1", {"type": "random_chance", "probability": 1}, {}, True),
    ("random_chance-0", {"type": "random_chance", "probability": 0}, {}, False),
    ("time_of_day_in", {"type": "time_of_day_in", "times": ["morning", "evening"]}, {}, True),
    ("time_of_day_in-other", {"type": "time_of_day_in", "times": ["night"]}, {}, False),
    ("same_location", {"type": "same_location"}, {"flags": {"location_id": 5}, "state": {"locationId": 5}}, True),
    (
        "same_location-other",
        {"type": "same_location"},
        {"flags": {"location_id": 5}, "state": {"locationId": 6}},
        False,
    ),
    ("custom-unknown", {"type": "custom", "evaluatorId": "plugin:nobody:anything"}, {}, False),
]


@pytest.mark.parametrize(("condition", "setup", "holds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_each_built_in_condition_gates_its_activity(
    make_scene: MakeScene, condition: dict[str, Any], setup: dict[str, Any], holds: bool
) -> None:
    scene = await gated_scene(make_scene, condition)
    if "rel" in setup:
        relationships = {f"npc:{scene.npcs[i].id}": metrics for i, metrics in setup["rel"].items()}
        await scene.storage.sessions.apply_change(scene.session.id, _deltas(relationships))
    if "flags" in setup:
        await scene.set_flags(**setup["flags"])
    if "state" in setup:
        await scene.set_state(setup["state"])
    assert await started(scene) is holds


def _deltas(relationships: dict[str, dict[str, float]]) -> SessionChange:
    return SessionChange(relationship_deltas=relationships)


async def test_the_built_ins_are_registered_under_the_core_namespace_once(make_scene: MakeScene) -> None:
    scene = await gated_scene(make_scene, {"type": "random_chance", "probability": 1})
    await scene.tick()
    await scene.tick()
    ids = {e.id for e in scene.host.behavior.entries() if e.plugin_id == "core"}
    assert {f"core:{t}" for t in ("relationship_gt", "flag_equals", "mood_in", "energy_between")} <= ids
    assert {"core:random_chance", "core:time_of_day_in", "effect:core:mood_impact", "effect:core:flags_set"} <= ids
    assert scene.host.behavior.get(ExtensionKind.EFFECT, "effect:core:energy_delta_per_hour") is not None


# -- custom evaluators: the result rules ----------------------------------------------------------------------------
class Truthy:
    """Awaitable and truthy, but neither a coroutine nor a bool."""

    def __bool__(self) -> bool:
        return True

    def __await__(self) -> Generator[Any, None, bool]:
        yield from asyncio.sleep(0).__await__()
        return True


def evaluator_plugin(fn: Any) -> object:
    class Judge:
        manifest = manifest("judge", "behavior:extend_conditions")

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            ctx.behavior.register_condition_evaluator("judge", fn)

    return Judge()


async def _async_true(ctx: Any, params: Any, view: Any) -> bool:
    await asyncio.sleep(0)
    return bool(params["answer"])


def _raises(ctx: Any, params: Any, view: Any) -> bool:
    raise RuntimeError("broken evaluator")


@pytest.mark.parametrize(
    ("fn", "holds", "recorded"),
    [
        (_async_true, True, False),
        (lambda ctx, params, view: Truthy(), False, True),
        (lambda ctx, params, view: 1, False, True),
        (lambda ctx, params, view: "yes", False, True),
        (_raises, False, True),
    ],
    ids=["async-awaited", "awaitable-truthy-non-bool", "int", "str", "raises"],
)
async def test_a_custom_condition_holds_only_for_a_real_true(
    make_scene: MakeScene, fn: Any, holds: bool, recorded: bool
) -> None:
    condition = {"type": "custom", "evaluatorId": "plugin:judge:judge", "params": {"answer": True}}
    scene = await gated_scene(make_scene, condition, plugins=[evaluator_plugin(fn)])
    report = await scene.tick()
    assert (report.rows[0].activity_id == "activity:gated") is holds
    assert bool(scene.host.health.of("judge").failures) is recorded
    assert report.rows[0].failed_plugins == (("judge",) if recorded else ())
    assert report.rows[0].plugins == (("judge",) if holds else ())


async def test_a_custom_condition_of_a_plugin_the_world_disables_is_false_and_never_called(
    make_scene: MakeScene,
) -> None:
    calls: list[int] = []

    def spy(ctx: Any, params: Any, view: Any) -> bool:
        calls.append(view.npc.id)
        return True

    condition = {"type": "custom", "evaluatorId": "plugin:judge:judge"}
    scene = await gated_scene(make_scene, condition, plugins=[evaluator_plugin(spy)], enabledPlugins=["someone-else"])
    report = await scene.tick()
    assert report.rows[0].activity_id is None and calls == []

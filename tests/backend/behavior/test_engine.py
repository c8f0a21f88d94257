"""The tick: one version-checked write, repeatable with a seed, recomputed on a lost race; routines, requirements,
durations and cooldowns as the decision loop uses them."""

from __future__ import annotations

from typing import Any

import pytest

from pixsim_hooks import ConfigError, NotFoundError, SessionSnapshot, StaleWriteError
from pixsim_hooks.backend.behavior import MAX_ATTEMPTS, tick
from pixsim_hooks.plugin import SessionChange
from tests.backend.behavior.conftest import HOUR, MakeScene, Scene, activity, all_day, behavior, npc_meta

THREE_WAY = behavior(
    [activity("a"), activity("b", "social"), activity("c", "leisure")],
    [all_day(("a", 1.0), ("b", 1.0), ("c", 1.0))],
)


async def run(scene: Scene, session_id: int, seed: int, ticks: int = 4) -> list[Any]:
    rows = []
    for _ in range(ticks):
        report = await tick(scene.host, scene.storage, session_id, 60, seed=seed)
        rows.append([(r.npc_id, r.status, r.activity_id, r.score) for r in report.rows])
    return rows


async def test_the_same_seed_on_the_same_data_gives_the_same_ticks_and_another_seed_differs(
    make_scene: MakeScene,
) -> None:
    scene = await make_scene(THREE_WAY, npcs=[npc_meta()] * 8)
    others = [await scene.storage.sessions.create_session(scene.world.id) for _ in range(2)]
    first = await run(scene, scene.session.id, seed=42)
    assert await run(scene, others[0].id, seed=42) == first
    assert (await scene.current()).flags == (await scene.storage.sessions.get_session(others[0].id)).flags  # type: ignore[union-attr]
    assert await run(scene, others[1].id, seed=43) != first


async def test_a_tick_advances_world_time_in_one_write(make_scene: MakeScene) -> None:
    scene = await make_scene(THREE_WAY, world_time=100)
    report = await scene.tick(30)
    after = await scene.current()
    assert (report.world_time_before, report.world_time_after, after.world_time) == (100, 130, 130)
    assert (report.version, after.version, report.attempts) == (2, 2, 1)
    assert report.to_json()["decisions"] == 1


async def test_a_lost_race_rereads_and_recomputes_keeping_the_other_write(make_scene: MakeScene) -> None:
    scene = await make_scene(THREE_WAY)
    races = [0]

    async def racing(session_id: int, change: SessionChange) -> SessionSnapshot:
        if races[0] < 1:
            races[0] += 1
            await scene.storage.sessions.apply_change(session_id, SessionChange(set_flags={"player": "moved"}))
        return await scene.storage.sessions.apply_change(session_id, change)

    report = await tick(scene.host, scene.storage, scene.session.id, 60, seed=1, apply_change=racing)
    after = await scene.current()
    assert report.attempts == 2 and after.version == 3 and after.world_time == 60
    assert after.flags["player"] == "moved" and f"npc:{scene.npcs[0].id}" in after.flags["npcs"]


async def test_a_tick_that_keeps_losing_gives_up_and_writes_nothing(make_scene: MakeScene) -> None:
    scene = await make_scene(THREE_WAY)

    async def always_late(session_id: int, change: SessionChange) -> SessionSnapshot:
        await scene.storage.sessions.apply_change(session_id, SessionChange(set_flags={"bump": 1}))
        return await scene.storage.sessions.apply_change(session_id, change)

    with pytest.raises(StaleWriteError):
        await tick(scene.host, scene.storage, scene.session.id, 60, seed=1, apply_change=always_late)
    after = await scene.current()
    assert after.world_time == 0 and "npcs" not in after.flags and after.version == 1 + MAX_ATTEMPTS


async def test_bad_world_json_raises_a_config_error_before_anything_is_written(make_scene: MakeScene) -> None:
    meta = behavior([activity("a", requirements={"minEnergy": -1})])
    scene = await make_scene(meta)
    with pytest.raises(ConfigError) as raised:
        await scene.tick()
    assert raised.value.path == "meta.behavior.activities[0].requirements.minEnergy"
    assert (await scene.current()).version == 1


async def test_a_missing_session_or_a_bad_duration_is_refused(make_scene: MakeScene) -> None:
    scene = await make_scene(THREE_WAY)
    with pytest.raises(NotFoundError):
        await tick(scene.host, scene.storage, 999, 60, seed=1)
    for bad in (0, -5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="seconds"):
            await scene.tick(bad)


# -- routines -------------------------------------------------------------------------------------------------------
def slot(node_id: str, start: float, end: float, slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "nodeType": "time_slot",
        "timeRangeSeconds": {"start": start * HOUR, "end": end * HOUR},
        "preferredActivities": [{"activityId": f"activity:{slug}", "weight": 1}],
        **extra,
    }


async def test_the_time_slot_containing_the_time_of_day_is_active_and_entering_it_applies_transition_effects(
    make_scene: MakeScene,
) -> None:
    routine = {
        "id": "routine:day",
        "nodes": [slot("day", 6, 22, "work"), slot("night", 22, 6, "sleep")],
        "edges": [{"fromNodeId": "day", "toNodeId": "night", "transitionEffects": {"flagsSet": {"lights": "off"}}}],
    }
    meta = behavior([activity("work"), activity("sleep", "routine")], [routine])
    scene = await make_scene(meta, world_time=21 * HOUR)
    assert (await scene.tick(60)).rows[0].activity_id == "activity:work"
    assert "lights" not in (await scene.current()).flags
    assert (await scene.tick(2 * HOUR)).rows[0].activity_id == "activity:sleep"  # 23:01, wrapping range
    assert (await scene.current()).flags["lights"] == "off"
    assert (await scene.state())["routineNodeId"] == "night"


async def test_a_decision_node_follows_the_edge_whose_conditions_hold(make_scene: MakeScene) -> None:
    rainy = {"type": "flag_equals", "key": "weather", "value": "rain"}
    routine = {
        "id": "routine:day",
        "nodes": [
            {"id": "choose", "nodeType": "decision", "timeRangeSeconds": {"start": 0, "end": 86400}},
            {"id": "in", "nodeType": "activity", "preferredActivities": [{"activityId": "activity:read"}]},
            {"id": "out", "nodeType": "activity", "preferredActivities": [{"activityId": "activity:walk"}]},
        ],
        "edges": [
            {"fromNodeId": "choose", "toNodeId": "in", "conditions": [rainy]},
            {"fromNodeId": "choose", "toNodeId": "out", "conditions": [{**rainy, "value": "sun"}]},
        ],
    }
    scene = await make_scene(behavior([activity("read", "leisure"), activity("walk", "leisure")], [routine]))
    await scene.set_flags(weather="rain")
    assert (await scene.tick()).rows[0].activity_id == "activity:read"
    await scene.set_flags(weather="sun")
    assert (await scene.tick()).rows[0].activity_id == "activity:walk"
    await scene.set_flags(weather="fog")  # a dead end: idle
    assert (await scene.tick()).rows[0].status == "idle"


async def test_an_npc_without_a_routine_stays_idle(make_scene: MakeScene) -> None:
    scene = await make_scene(THREE_WAY, npcs=[{"behavior": {}}])
    report = await scene.tick()
    assert (report.rows[0].status, report.rows[0].activity_id) == ("idle", None)


# -- durations, cooldowns, requirements -----------------------------------------------------------------------------
async def test_min_duration_keeps_an_npc_busy_and_cooldown_blocks_choosing_an_activity_again(
    make_scene: MakeScene,
) -> None:
    acts = [
        activity("gym", minDurationSeconds=120, cooldownSeconds=300),
        activity("rest", "routine", minDurationSeconds=60),
    ]
    scene = await make_scene(behavior(acts, [all_day(("gym", 1.0))]))
    first = await scene.tick(60)
    assert (first.rows[0].status, first.rows[0].activity_id) == ("started", "activity:gym")
    assert (await scene.tick(60)).rows[0].status == "busy"
    assert (await scene.tick(60)).rows[0].status == "continued"  # carrying on is not blocked by the cooldown
    meta = behavior(acts, [all_day(("rest", 1.0))])
    await scene.storage.worlds.update_world(scene.world.id, meta=meta)
    await scene.tick(120)  # switches to rest: gym's cooldown starts
    assert (await scene.state())["cooldowns"] == {"activity:gym": 420 + 300 - 120}
    await scene.storage.worlds.update_world(scene.world.id, meta=behavior(acts, [all_day(("gym", 1.0))]))
    assert (await scene.tick(60)).rows[0].status == "idle"  # gym still cooling down, nothing else offered
    assert (await scene.tick(240)).rows[0].activity_id == "activity:gym"


async def test_an_activity_with_location_types_moves_the_npc_to_a_fitting_favourite_location(
    make_scene: MakeScene,
) -> None:
    locations = [
        ("Dock A", {"locationType": "docks"}),
        ("Market", {"locationType": "market"}),
        ("Dock B", {"locationType": "docks"}),
    ]
    meta = behavior([activity("fish", requirements={"locationTypes": ["docks"]})], [all_day(("fish", 1.0))])
    scene = await make_scene(meta, locations=locations, npcs=[npc_meta(), npc_meta()])
    dock_a, _, dock_b = [loc.id for loc in await scene.storage.worlds.list_locations(scene.world.id)]
    await scene.set_state({}, index=1, preferences={"favoriteLocations": [f"location:{dock_b}"]})
    report = await scene.tick()
    assert [row.location_id for row in report.rows] == [dock_a, dock_b]


async def test_an_activity_needing_a_location_type_the_world_lacks_is_not_feasible(make_scene: MakeScene) -> None:
    meta = behavior([activity("fish", requirements={"locationTypes": ["docks"]})], [all_day(("fish", 1.0))])
    scene = await make_scene(meta, locations=[("Market", {"locationType": "market"})])
    assert (await scene.tick()).rows[0].status == "idle"


@pytest.mark.parametrize(("roles", "feasible"), [(["friend"], True), (["rival"], False)])
async def test_required_npc_roles_must_be_held_by_another_npc(
    make_scene: MakeScene, roles: list[str], feasible: bool
) -> None:
    meta = behavior(
        [activity("chat", "social", requirements={"requiredNpcRolesOrIds": ["role:friend"]})], [all_day(("chat", 1.0))]
    )
    scene = await make_scene(meta, npcs=[npc_meta(roles=["friend"]), npc_meta(None, roles=roles)])
    assert (await scene.tick()).rows[0].status == ("started" if feasible else "idle")


@pytest.mark.parametrize(("energy", "status"), [(20, "idle"), (40, "started")])
async def test_min_energy_gates_an_activity(make_scene: MakeScene, energy: float, status: str) -> None:
    meta = behavior([activity("haul", requirements={"minEnergy": 40, "timeOfDay": "night"})], [all_day(("haul", 1.0))])
    scene = await make_scene(meta)
    await scene.set_state({"energy": energy})
    assert (await scene.tick()).rows[0].status == status

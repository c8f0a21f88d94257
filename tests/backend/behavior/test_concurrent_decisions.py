"""With a plugin out of process the engine decides NPCs concurrently (so that their calls go out in batches). The
result must be the one the sequential engine gives: same decisions, scores, plugins, flags and relationships."""

from __future__ import annotations

from typing import Any

import pytest

from contrib_plugins import inventory, romance, weather
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend.behavior import tick
from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.host import PluginHost, Settings, create_host
from pixsim_hooks.runtime import ProcessPlugin

RAIN = [{"type": "custom", "evaluatorId": "plugin:weather:is_raining"}]
GIFT = [{"type": "effect:plugin:inventory:give_item", "params": {"item": "fish", "count": 1}}]


def world_meta() -> dict[str, Any]:
    activities = [
        {"id": "activity:fish", "name": "Fish", "category": "work", "effects": {"customEffects": GIFT}},
        {
            "id": "activity:date",
            "name": "Date",
            "category": "social",
            "requirements": {"conditions": RAIN},
            "effects": {
                "customEffects": GIFT,
                "moodImpact": {"valence": 3},
                "relationshipChanges": {"self": {"trust": 1}},
            },
        },
        {"id": "activity:rest", "name": "Rest", "category": "leisure", "effects": {"energyDeltaPerHour": 10}},
    ]
    node = {
        "id": "day",
        "nodeType": "time_slot",
        "timeRangeSeconds": {"start": 0, "end": 86400},
        "preferredActivities": [
            {"activityId": "activity:fish", "weight": 0.5},
            {"activityId": "activity:date", "weight": 0.5},
            {"activityId": "activity:rest", "weight": 0.4},
        ],
    }
    categories = [{"id": c, "label": c} for c in ("work", "social", "leisure")]
    behavior = {
        "version": 2,
        "activityCategories": categories,
        "activities": activities,
        "routines": [{"id": "routine:day", "nodes": [node]}],
    }
    return {"weather": "rain", "behavior": behavior}


async def ticked(host: PluginHost, storage: SqlStorage, world_id: int, npc_ids: list[int]) -> tuple[Any, Any]:
    relationships = {f"npc:{n}": {"chemistry": (n * 37) % 150 - 40} for n in npc_ids}
    session = await storage.sessions.create_session(world_id, relationships=relationships)
    reports = [await tick(host, storage, session.id, 1800, seed=seed) for seed in (1, 2, 3)]
    after = await storage.sessions.get_session(session.id)
    assert after is not None
    return [r.rows for r in reports], (dict(after.flags), dict(after.relationships))


@pytest.mark.needs("bubblewrap")
async def test_a_tick_with_sandboxed_plugins_decides_exactly_as_with_them_in_process(storage: SqlStorage) -> None:
    world = await storage.worlds.create_world("Harbor", world_meta())
    npcs = [
        await storage.npcs.create_npc(world.id, f"N{i}", {"behavior": {"routineId": "routine:day"}}) for i in range(25)
    ]
    modules = (weather, inventory, romance)
    inproc = create_host(Settings(), storage=storage, plugins=modules, entry_points=[])
    sandboxed = create_host(
        Settings(), storage=storage, plugins=[ProcessPlugin(m.__name__) for m in modules], entry_points=[]
    )
    await inproc.load()
    await sandboxed.load()
    try:
        for host, concurrent in ((inproc, False), (sandboxed, True)):
            calls = ExtensionCalls(host, host.world_scope(world.id, world.meta))
            assert calls.concurrent is concurrent
        expected = await ticked(inproc, storage, world.id, [n.id for n in npcs])
        got = await ticked(sandboxed, storage, world.id, [n.id for n in npcs])
    finally:
        await sandboxed.shutdown()
    assert got == expected
    rows = expected[0][0]
    assert {row.activity_id for row in rows} >= {"activity:fish", "activity:date"}  # the plugins made a difference
    assert expected[1][0]["plugin:inventory:items"]["fish"] >= 25

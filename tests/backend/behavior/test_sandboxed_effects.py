"""An out-of-process effect that stages writes and then attacks (floods, answers malformed JSON, crashes, raises,
spins): none of its writes land, the tick still completes for every NPC, and the failure is the plugin's
(red-team 18, 21 and 23 through a real tick on the real store)."""

from __future__ import annotations

from typing import Any

import pytest

from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend.behavior import tick
from pixsim_hooks.host import Settings, create_host
from pixsim_hooks.runtime import ProcessPlugin


def world_meta(attack: str) -> dict[str, Any]:
    effect = {"type": "effect:plugin:scribbler:scribble", "params": {"attack": attack}}
    activity = {"id": "activity:write", "name": "Write", "category": "work", "effects": {"customEffects": [effect]}}
    node = {
        "id": "day",
        "nodeType": "time_slot",
        "timeRangeSeconds": {"start": 0, "end": 86400},
        "preferredActivities": [{"activityId": "activity:write", "weight": 1}],
    }
    behavior = {
        "version": 2,
        "activityCategories": [{"id": "work", "label": "Work"}],
        "activities": [activity],
        "routines": [{"id": "routine:day", "nodes": [node]}],
    }
    return {"behavior": behavior}


@pytest.mark.needs("bubblewrap")
@pytest.mark.parametrize("attack", ["none", "raise", "crash", "malformed", "flood", "spin"])
async def test_an_attacking_sandboxed_effect_applies_nothing_and_the_tick_goes_on(
    storage: SqlStorage, attack: str, no_leftover_processes: None
) -> None:
    world = await storage.worlds.create_world("Harbor", world_meta(attack))
    npcs = [
        await storage.npcs.create_npc(world.id, f"N{i}", {"behavior": {"routineId": "routine:day"}}) for i in range(3)
    ]
    host = create_host(
        Settings(hook_deadline_ms=500),
        storage=storage,
        plugins=[ProcessPlugin("tests.runtime.hostile_plugins:Scribbler")],
        entry_points=[],
    )
    await host.load()
    try:
        session = await storage.sessions.create_session(world.id)
        report = await tick(host, storage, session.id, 60, seed=1)
        after = await storage.sessions.get_session(session.id)
    finally:
        await host.shutdown()
    assert after is not None
    assert [row.activity_id for row in report.rows] == ["activity:write"] * len(npcs)  # every NPC still decided
    if attack == "none":  # the control: an effect that behaves writes
        assert after.flags["plugin:scribbler:x"] == 1
        assert {after.relationships[f"npc:{n.id}"]["trust"] for n in npcs} == {5.0}
        assert all(row.plugins == ("scribbler",) for row in report.rows)
        return
    assert "plugin:scribbler:x" not in after.flags
    assert after.relationships == {}
    assert report.rows[0].failed_plugins == ("scribbler",)

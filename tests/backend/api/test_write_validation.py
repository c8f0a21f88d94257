"""World and NPC ``meta.behavior`` is checked when it is written, as the engine reads it: a 422 naming the JSON path,
nothing stored. What is already stored keeps failing closed where it is read (the tick, the world scope)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

GOOD = {"behavior": {"version": 2, "activityCategories": [{"id": "work", "label": "Work"}]}}


def _activity(**fields: Any) -> dict[str, Any]:
    return {"id": "activity:fish", "name": "Fish", **fields}


BAD_WORLDS = [
    ({"behavior": "yes"}, ["meta", "behavior"]),
    ({"behavior": {"version": 2, "activities": "oops"}}, ["meta", "behavior", "activities"]),
    ({"behavior": {"version": 2, "activities": [_activity()]}}, ["meta", "behavior", "activities", 0, "category"]),
    (
        {"behavior": {"version": 2, "activities": [_activity(category="nowhere")]}},
        ["meta", "behavior", "activities", 0, "category"],
    ),
    ({"behavior": {"version": 7}}, ["meta", "behavior", "version"]),
    ({"behavior": {"enabledPlugins": "reputation"}}, ["meta", "behavior", "enabledPlugins"]),
    ({"behavior": {"enabledPlugins": ["stealth", 3]}}, ["meta", "behavior", "enabledPlugins", 1]),
    ({"behavior": {"enabledPlugins": ["Not A Plugin"]}}, ["meta", "behavior", "enabledPlugins", 0]),
]


def _config_problem(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:pixsim:problem:invalid-config"
    (error,) = problem["errors"]
    return list(error["loc"])


@pytest.mark.parametrize(("meta", "loc"), BAD_WORLDS)
async def test_a_world_with_bad_behavior_is_refused_at_its_post_naming_the_json_path(
    client: httpx.AsyncClient, meta: dict[str, Any], loc: list[Any]
) -> None:
    assert _config_problem(await client.post("/worlds", json={"name": "W", "meta": meta})) == loc
    assert (await client.get("/worlds")).json() == []


@pytest.mark.parametrize(("meta", "loc"), BAD_WORLDS)
async def test_a_world_patched_with_bad_behavior_is_refused_and_keeps_its_meta(
    client: httpx.AsyncClient, meta: dict[str, Any], loc: list[Any]
) -> None:
    world = (await client.post("/worlds", json={"name": "W", "meta": GOOD})).json()
    assert _config_problem(await client.patch(f"/worlds/{world['id']}", json={"meta": meta})) == loc
    assert (await client.get(f"/worlds/{world['id']}")).json()["meta"] == GOOD


async def test_a_good_world_with_its_plugins_listed_is_accepted(client: httpx.AsyncClient) -> None:
    meta = {"behavior": {**GOOD["behavior"], "enabledPlugins": ["stealth", "weather"]}}
    assert (await client.post("/worlds", json={"name": "W", "meta": meta})).status_code == 201


async def test_an_npc_naming_a_routine_its_world_lacks_is_refused(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    url = f"/worlds/{world['id']}/npcs"
    body = {"name": "Alex", "meta": {"behavior": {"routineId": "routine:shop"}}}
    assert _config_problem(await client.post(url, json=body)) == ["meta", "behavior", "routineId"]
    npc = (await client.post(url, json={"name": "Alex"})).json()
    patched = await client.patch(f"{url}/{npc['id']}", json={"meta": body["meta"]})
    assert _config_problem(patched) == ["meta", "behavior", "routineId"]
    assert (await client.get(f"{url}/{npc['id']}")).json()["meta"] == {}


async def test_an_npc_of_the_wrong_shape_is_refused(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    body = {"name": "Alex", "meta": {"behavior": {"routineId": 5}}}
    response = await client.post(f"/worlds/{world['id']}/npcs", json=body)
    assert _config_problem(response) == ["meta", "behavior", "routineId"]


async def test_a_world_whose_stored_enablement_is_malformed_still_enables_no_plugin(app: FastAPI) -> None:
    # Written past the API (data from before the check): the host fails closed where it reads it.
    storage = app.state.storage
    world = await storage.worlds.create_world("Old", {"behavior": {"enabledPlugins": "reputation"}})
    assert app.state.host.world_scope(world.id, world.meta).allows("reputation") is False

from __future__ import annotations

from typing import Any

import httpx

from tests.backend.conftest import post_ok


async def test_a_world_can_be_created_read_listed_updated_and_deleted(client: httpx.AsyncClient) -> None:
    created = await post_ok(client, "/worlds", {"name": "Harbor", "meta": {"behavior": {"version": 2}}})
    url = f"/worlds/{created['id']}"

    assert (await client.get(url)).json() == created
    assert (await client.get("/worlds")).json() == [created]
    patched = await client.patch(url, json={"name": "Port"})
    assert patched.json() == {**created, "name": "Port"}
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_creating_a_world_answers_201_with_its_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/worlds", json={"name": "Harbor"})

    assert response.status_code == 201
    assert response.json() == {"id": response.json()["id"], "name": "Harbor", "meta": {}}


async def test_the_world_list_pages_with_limit_and_offset(client: httpx.AsyncClient) -> None:
    ids = [(await post_ok(client, "/worlds", {"name": f"w{i}"}))["id"] for i in range(5)]

    page = (await client.get("/worlds", params={"limit": 2, "offset": 1})).json()

    assert [w["id"] for w in page] == ids[1:3]


async def test_patching_meta_replaces_it_whole(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    response = await client.patch(f"/worlds/{world['id']}", json={"meta": {"fresh": True}})

    assert response.json()["meta"] == {"fresh": True}


async def test_a_world_without_a_name_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/worlds", json={"meta": {}})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "name"]]


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/worlds", json={"name": "Harbor", "plugin_config": {}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "plugin_config"]


async def test_deleting_a_missing_world_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/worlds/404")).status_code == 404

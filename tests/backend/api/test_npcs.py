from __future__ import annotations

from typing import Any

import httpx

from pixsim_hooks import NpcSpawned
from tests.backend.conftest import Recorder, post_ok


async def test_an_npc_can_be_created_read_listed_updated_and_deleted(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    base = f"/worlds/{world['id']}/npcs"
    created = await post_ok(client, base, {"name": "Alex", "meta": {"behavior": {}, "portrait": "alex.png"}})
    url = f"{base}/{created['id']}"

    assert (await client.get(url)).json() == created
    assert (await client.get(base)).json() == [created]
    assert (await client.patch(url, json={"meta": {}})).json()["meta"] == {}
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_creating_an_npc_publishes_npc_spawned_once_with_its_world(
    client: httpx.AsyncClient, world: dict[str, Any], recorder: Recorder
) -> None:
    created = await post_ok(client, f"/worlds/{world['id']}/npcs", {"name": "Alex"})

    spawned = recorder.of(NpcSpawned)
    assert [(e.world_id, e.npc.id) for e in spawned] == [(world["id"], created["id"])]


async def test_an_npc_of_a_missing_world_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/worlds/404/npcs", json={"name": "Ghost"})

    assert response.status_code == 404
    assert response.json()["detail"] == "world 404 not found"

from __future__ import annotations

from typing import Any

import httpx

from tests.backend.conftest import post_ok


async def test_a_location_can_be_created_read_listed_updated_and_deleted(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    base = f"/worlds/{world['id']}/locations"
    created = await post_ok(client, base, {"name": "Market", "meta": {"type": "shop"}})
    url = f"{base}/{created['id']}"

    assert created == {"id": created["id"], "world_id": world["id"], "name": "Market", "meta": {"type": "shop"}}
    assert (await client.get(url)).json() == created
    assert (await client.get(base)).json() == [created]
    assert (await client.patch(url, json={"name": "Bazaar"})).json()["name"] == "Bazaar"
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_a_location_is_not_found_through_another_world(
    client: httpx.AsyncClient, location: dict[str, Any]
) -> None:
    other = await post_ok(client, "/worlds", {"name": "Other"})

    response = await client.get(f"/worlds/{other['id']}/locations/{location['id']}")

    assert response.status_code == 404
    assert (await client.delete(f"/worlds/{other['id']}/locations/{location['id']}")).status_code == 404


async def test_locations_of_a_missing_world_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/worlds/404/locations")).status_code == 404
    assert (await client.post("/worlds/404/locations", json={"name": "x"})).status_code == 404

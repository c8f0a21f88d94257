from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.backend.conftest import post_ok


async def test_a_submitted_generation_is_pending_and_reads_back(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    body = {"prompt": "Alex at the market", "world_id": world["id"], "params": {"style": "ink"}}

    created = await post_ok(client, "/generations", body)
    read = (await client.get(f"/generations/{created['id']}")).json()

    assert read == created
    assert (read["status"], read["requested_by"], read["params"]) == ("pending", "api", {"style": "ink"})
    assert datetime.fromisoformat(read["created_at"]).tzinfo is not None


async def test_the_requester_cannot_be_claimed_in_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/generations", json={"prompt": "x", "requested_by": "plugin:admin"})

    assert response.status_code == 422


async def test_a_generation_without_a_world_is_allowed(client: httpx.AsyncClient) -> None:
    assert (await post_ok(client, "/generations", {"prompt": "a logo"}))["world_id"] is None


async def test_a_generation_for_a_missing_world_or_a_missing_generation_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/generations", json={"prompt": "x", "world_id": 404})).status_code == 404
    assert (await client.get("/generations/404")).status_code == 404

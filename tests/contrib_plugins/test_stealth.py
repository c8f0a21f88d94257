"""The stealth route plugin, over HTTP through the backend app: deterministic pickpocketing counted in its own
namespaced session flags, and a world-scoped status the host guards."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from contrib_plugins import stealth
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings
from tests.contrib_plugins.conftest import created, serve

PLUGIN = "/plugins/stealth"
NPC = 3  # alertness(3) == 60
EASY_SKILL, HARD_SKILL = 90, 10


@pytest.fixture
def plugins() -> Sequence[object]:
    return [stealth]


async def new_world(client: httpx.AsyncClient, enabled: list[str] | None = None) -> dict[str, Any]:
    behavior: dict[str, Any] = {"version": 2} if enabled is None else {"version": 2, "enabledPlugins": enabled}
    return await created(client, "/worlds", {"name": "Harbor", "meta": {"behavior": behavior}})


@pytest.fixture
async def session(client: httpx.AsyncClient) -> dict[str, Any]:
    world = await new_world(client, ["stealth"])
    return await created(client, "/sessions", {"world_id": world["id"]})


async def pickpocket(client: httpx.AsyncClient, session_id: int, skill: int, npc_id: int = NPC) -> httpx.Response:
    return await client.post(f"{PLUGIN}/sessions/{session_id}/pickpocket", json={"npc_id": npc_id, "skill": skill})


def test_alertness_is_a_fixed_function_of_the_npc_id_between_20_and_90() -> None:
    values = [stealth.alertness(npc_id) for npc_id in range(1, 500)]
    assert values == [stealth.alertness(npc_id) for npc_id in range(1, 500)]
    assert min(values) == 20 and max(values) == 90
    assert stealth.alertness(NPC) == 60


async def test_a_skilled_attempt_succeeds_and_counts_an_attempt_and_a_success(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    response = await pickpocket(client, session["id"], EASY_SKILL)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "session_id": session["id"],
        "attempts": 1,
        "successes": 1,
        "npc_id": NPC,
        "skill": EASY_SKILL,
        "alertness": 60,
        "success": True,
    }


async def test_a_clumsy_attempt_fails_and_counts_only_the_attempt(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    body = (await pickpocket(client, session["id"], HARD_SKILL)).json()
    assert (body["success"], body["attempts"], body["successes"]) == (False, 1, 0)


async def test_skill_equal_to_the_alertness_succeeds(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    assert (await pickpocket(client, session["id"], stealth.alertness(NPC))).json()["success"] is True
    assert (await pickpocket(client, session["id"], stealth.alertness(NPC) - 1)).json()["success"] is False


async def test_counts_accumulate_in_the_plugins_own_namespaced_flags(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    for skill in (EASY_SKILL, HARD_SKILL, EASY_SKILL):
        await pickpocket(client, session["id"], skill)
    flags = (await client.get(f"/sessions/{session['id']}")).json()["flags"]
    assert flags == {"plugin:stealth:stealth_attempts": 3, "plugin:stealth:stealth_successes": 2}


async def test_the_stealth_record_reads_the_counts(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    url = f"{PLUGIN}/sessions/{session['id']}/stealth"
    assert (await client.get(url)).json() == {"session_id": session["id"], "attempts": 0, "successes": 0}
    await pickpocket(client, session["id"], EASY_SKILL)
    assert (await client.get(url)).json() == {"session_id": session["id"], "attempts": 1, "successes": 1}


@pytest.mark.parametrize(
    "body", [{"npc_id": NPC, "skill": 101}, {"npc_id": NPC, "skill": -1}, {"npc_id": 0, "skill": 5}]
)
async def test_an_out_of_range_attempt_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, session: dict[str, Any], body: dict[str, int]
) -> None:
    response = await client.post(f"{PLUGIN}/sessions/{session['id']}/pickpocket", json=body)
    assert response.status_code == 422
    assert (await client.get(f"/sessions/{session['id']}")).json()["flags"] == {}


async def test_an_unknown_session_answers_404(client: httpx.AsyncClient) -> None:
    assert (await pickpocket(client, 999, EASY_SKILL)).status_code == 404
    assert (await client.get(f"{PLUGIN}/sessions/999/stealth")).status_code == 404


async def test_a_session_in_a_world_without_stealth_answers_404_and_is_left_alone(client: httpx.AsyncClient) -> None:
    world = await new_world(client, ["audit"])
    session = await created(client, "/sessions", {"world_id": world["id"]})
    response = await pickpocket(client, session["id"], EASY_SKILL)
    assert response.status_code == 404
    assert "not enabled" in response.json()["detail"]
    assert (await client.get(f"/sessions/{session['id']}")).json()["flags"] == {}


async def test_world_status_answers_for_worlds_that_enable_stealth_explicitly_or_by_default(
    client: httpx.AsyncClient,
) -> None:
    for enabled in (["stealth"], None):
        world = await new_world(client, enabled)
        response = await client.get(f"{PLUGIN}/worlds/{world['id']}/status")
        assert response.status_code == 200
        assert response.json() == {"plugin": "stealth", "world_id": world["id"], "enabled": True}


async def test_world_status_is_404_for_a_world_that_did_not_enable_stealth_or_does_not_exist(
    client: httpx.AsyncClient,
) -> None:
    world = await new_world(client, [])
    assert (await client.get(f"{PLUGIN}/worlds/{world['id']}/status")).status_code == 404
    assert (await client.get(f"{PLUGIN}/worlds/999/status")).status_code == 404


async def test_a_denied_plugin_serves_no_routes(database_url: str) -> None:
    settings = Settings(database_url=database_url, plugins_deny=["stealth"])
    app = create_app(settings, plugins=[stealth], entry_points=[])
    async for client in serve(app):
        world = await new_world(client, ["stealth"])
        assert (await client.get(f"{PLUGIN}/worlds/{world['id']}/status")).status_code == 404


async def test_concurrent_attempts_lose_no_count(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    results = await asyncio.gather(*(pickpocket(client, session["id"], skill=100) for _ in range(20)))
    assert [r.status_code for r in results] == [200] * 20
    record = (await client.get(f"/plugins/stealth/sessions/{session['id']}/stealth")).json()
    assert (record["attempts"], record["successes"]) == (20, 20)


@pytest.mark.parametrize("session_id", [9007199254740992, 9223372036854775808, 0])
async def test_a_session_id_past_the_bounds_is_the_clients_422_not_the_plugins_502(
    client: httpx.AsyncClient, session_id: int
) -> None:
    for response in (
        await client.get(f"{PLUGIN}/sessions/{session_id}/stealth"),
        await pickpocket(client, session_id, skill=50),
    ):
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"] == "urn:pixsim:problem:validation" and "plugin" not in problem
        assert problem["errors"][0]["loc"] == ["path", "session_id"]


@pytest.mark.parametrize("body", [{"npc_id": True, "skill": 50}, {"npc_id": 1, "skill": "50"}])
async def test_a_pickpocket_takes_json_integers_only(
    client: httpx.AsyncClient, session: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post(f"{PLUGIN}/sessions/{session['id']}/pickpocket", json=body)
    assert response.status_code == 422, response.text

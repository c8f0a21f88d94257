from __future__ import annotations

import asyncio
from typing import Any

import httpx

from pixsim_hooks import InteractionExecuted, LocationChanged, SessionCreated, SessionUpdated, WorldTimeAdvanced
from tests.backend.conftest import Recorder, post_ok

JSON = dict[str, Any]


async def test_a_session_starts_empty_at_version_1_and_reads_back_with_its_etag(
    client: httpx.AsyncClient, world: JSON
) -> None:
    created = await client.post("/sessions", json={"world_id": world["id"]})
    read = await client.get(f"/sessions/{created.json()['id']}")

    assert created.status_code == 201
    assert read.json() == {**created.json(), "world_time": 0.0, "version": 1, "flags": {}, "relationships": {}}
    assert read.headers["etag"] == '"1"'


async def test_a_session_for_a_missing_world_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/sessions", json={"world_id": 404})).status_code == 404


async def test_a_deleted_session_is_gone(client: httpx.AsyncClient, session: JSON) -> None:
    assert (await client.delete(f"/sessions/{session['id']}")).status_code == 204
    assert (await client.get(f"/sessions/{session['id']}")).status_code == 404


async def test_patching_flags_merges_keys_and_null_deletes_one(client: httpx.AsyncClient, session: JSON) -> None:
    url = f"/sessions/{session['id']}/flags"
    await client.patch(url, json={"keep": 1, "drop": "x"})

    response = await client.patch(url, json={"drop": None, "added": {"deep": [1]}})

    assert response.json()["flags"] == {"keep": 1, "added": {"deep": [1]}}
    assert (response.json()["version"], response.headers["etag"]) == (3, '"3"')


async def test_relationship_deltas_add_to_the_current_metrics(
    client: httpx.AsyncClient, session: JSON, npc: JSON
) -> None:
    url = f"/sessions/{session['id']}/relationships/npc:{npc['id']}"
    await client.post(url, json={"affinity": 10, "trust": 1})

    response = await client.post(url, json={"affinity": -2.5})

    assert response.json()["relationships"] == {f"npc:{npc['id']}": {"affinity": 7.5, "trust": 1}}


async def test_a_relationship_key_that_is_not_an_npc_key_is_422(client: httpx.AsyncClient, session: JSON) -> None:
    response = await client.post(f"/sessions/{session['id']}/relationships/role:friend", json={"affinity": 1})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "npc_key"]


async def test_an_unknown_relationship_metric_is_422(client: httpx.AsyncClient, session: JSON, npc: JSON) -> None:
    url = f"/sessions/{session['id']}/relationships/npc:{npc['id']}"

    assert (await client.post(url, json={"love": 1})).status_code == 422


async def test_advancing_time_adds_seconds_and_refuses_non_positive_ones(
    client: httpx.AsyncClient, session: JSON
) -> None:
    url = f"/sessions/{session['id']}/advance-time"

    assert (await client.post(url, json={"seconds": 3600})).json()["world_time"] == 3600.0
    assert (await client.post(url, json={"seconds": 0})).status_code == 422


async def test_if_match_with_the_current_version_applies_the_write(client: httpx.AsyncClient, session: JSON) -> None:
    response = await client.patch(f"/sessions/{session['id']}/flags", json={"a": 1}, headers={"If-Match": '"1"'})

    assert response.status_code == 200
    assert response.json()["version"] == 2


async def test_if_match_with_a_stale_version_is_a_409_problem_and_writes_nothing(
    client: httpx.AsyncClient, session: JSON
) -> None:
    url = f"/sessions/{session['id']}"
    await client.patch(f"{url}/flags", json={"a": 1})

    response = await client.post(f"{url}/advance-time", json={"seconds": 5}, headers={"If-Match": "1"})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:pixsim:problem:stale-write",
        "title": "Conflict",
        "status": 409,
        "detail": f"session {session['id']} is at version 2, not 1",
    }
    assert (await client.get(url)).json()["world_time"] == 0.0


async def test_a_malformed_if_match_is_422_naming_the_header(client: httpx.AsyncClient, session: JSON) -> None:
    response = await client.patch(f"/sessions/{session['id']}/flags", json={}, headers={"If-Match": "abc"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "if-match"]


async def test_an_interaction_applies_its_deltas_and_names_the_npc(
    client: httpx.AsyncClient, session: JSON, npc: JSON
) -> None:
    body = {"npc_id": npc["id"], "interaction": "give_gift", "relationship_deltas": {"affinity": 3}}

    response = await client.post(f"/sessions/{session['id']}/interactions", json=body)

    assert response.status_code == 200
    assert response.json()["session"]["relationships"] == {f"npc:{npc['id']}": {"affinity": 3}}
    assert (response.json()["npc_id"], response.json()["interaction"]) == (npc["id"], "give_gift")


async def test_moving_the_player_keeps_the_location_in_flags(
    client: httpx.AsyncClient, session: JSON, location: JSON
) -> None:
    response = await client.post(f"/sessions/{session['id']}/location", json={"location_id": location["id"]})

    assert response.json()["flags"] == {"location_id": location["id"]}


async def test_moving_to_a_location_of_another_world_is_404(client: httpx.AsyncClient, session: JSON) -> None:
    other = await post_ok(client, "/worlds", {"name": "Other"})
    far = await post_ok(client, f"/worlds/{other['id']}/locations", {"name": "Far"})

    response = await client.post(f"/sessions/{session['id']}/location", json={"location_id": far["id"]})

    assert response.status_code == 404


async def test_each_commit_publishes_its_events_once_with_the_sessions_world(
    client: httpx.AsyncClient, world: JSON, npc: JSON, location: JSON, recorder: Recorder
) -> None:
    recorder.events.clear()
    session = await post_ok(client, "/sessions", {"world_id": world["id"]})
    base = f"/sessions/{session['id']}"
    await client.patch(f"{base}/flags", json={"a": 1})
    await client.post(f"{base}/relationships/npc:{npc['id']}", json={"trust": 1})
    await client.post(f"{base}/advance-time", json={"seconds": 60})
    await client.post(f"{base}/interactions", json={"npc_id": npc["id"], "interaction": "talk"})
    await client.post(f"{base}/location", json={"location_id": location["id"]})

    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == [
        "SessionCreated",
        "SessionUpdated",  # flags
        "SessionUpdated",  # relationships
        "SessionUpdated",  # world time ...
        "WorldTimeAdvanced",  # ... and the clock event of the same commit
        "InteractionExecuted",  # no deltas: no session write, only the interaction
        "SessionUpdated",  # location flag ...
        "LocationChanged",
    ]
    assert {e.world_id for e in recorder.events} == {world["id"]}  # type: ignore[attr-defined]
    assert [e.changed for e in recorder.of(SessionUpdated)] == [
        ("flags",),
        ("relationships",),
        ("world_time",),
        ("flags",),
    ]
    assert recorder.of(SessionCreated)[0].session.id == session["id"]
    assert recorder.of(WorldTimeAdvanced)[0].current == 60.0
    assert recorder.of(InteractionExecuted)[0].npc_id == npc["id"]
    assert recorder.of(LocationChanged)[0].location_id == location["id"]


async def test_fifty_concurrent_flag_patches_all_land(client: httpx.AsyncClient, session: JSON) -> None:
    url = f"/sessions/{session['id']}/flags"

    responses = await asyncio.gather(*(client.patch(url, json={f"k{i}": i}) for i in range(50)))

    assert {r.status_code for r in responses} == {200}
    final = (await client.get(f"/sessions/{session['id']}")).json()
    assert final["flags"] == {f"k{i}": i for i in range(50)}
    assert final["version"] == 51


async def test_fifty_concurrent_affinity_increments_sum_to_fifty(
    client: httpx.AsyncClient, session: JSON, npc: JSON
) -> None:
    url = f"/sessions/{session['id']}/relationships/npc:{npc['id']}"

    responses = await asyncio.gather(*(client.post(url, json={"affinity": 1}) for _ in range(50)))

    assert {r.status_code for r in responses} == {200}
    final = (await client.get(f"/sessions/{session['id']}")).json()
    assert final["relationships"][f"npc:{npc['id']}"]["affinity"] == 50

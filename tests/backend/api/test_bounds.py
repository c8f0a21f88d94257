"""Every number a client sends is bounded, typed as JSON types it, and answered 422 naming the field past its bound.

The largest id the API takes is 2**53 - 1 (9007199254740991): within the database's signed 64 bits and exact in any
JSON client. These figures are written out here, not read from the code.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

LARGEST = 9007199254740991  # 2**53 - 1
ONE_PAST = LARGEST + 1
SIXTY_FOUR_BITS_PAST = 9223372036854775808  # 2**63: the OverflowError of the SQLite driver before


def _field_of(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


PATHS = [
    "/worlds/{id}",
    "/worlds/{id}/locations",
    "/worlds/{id}/npcs",
    "/worlds/1/npcs/{id}",
    "/worlds/1/locations/{id}",
    "/sessions/{id}",
    "/generations/{id}",
]


@pytest.mark.parametrize("path", PATHS)
async def test_the_largest_id_is_not_found_and_one_past_it_is_a_422_naming_the_path_parameter(
    client: httpx.AsyncClient, world: dict[str, Any], path: str
) -> None:
    assert (await client.get(path.format(id=LARGEST))).status_code == 404
    for past in (ONE_PAST, SIXTY_FOUR_BITS_PAST, 10**30):
        (loc,) = _field_of(await client.get(path.format(id=past)))
        assert loc[0] == "path"


@pytest.mark.parametrize("bad", [0, -1])
async def test_an_id_below_one_is_a_422(client: httpx.AsyncClient, bad: int) -> None:
    assert _field_of(await client.get(f"/worlds/{bad}")) == [["path", "world_id"]]


async def test_ids_in_bodies_are_bounded_the_same_way(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    assert (await client.post("/sessions", json={"world_id": LARGEST})).status_code == 404
    assert _field_of(await client.post("/sessions", json={"world_id": ONE_PAST})) == [["body", "world_id"]]
    assert _field_of(await client.post("/sessions", json={"world_id": SIXTY_FOUR_BITS_PAST})) == [["body", "world_id"]]
    moved = await client.post(f"/sessions/{session['id']}/location", json={"location_id": ONE_PAST})
    assert _field_of(moved) == [["body", "location_id"]]
    generation = await client.post("/generations", json={"prompt": "a map", "world_id": ONE_PAST})
    assert _field_of(generation) == [["body", "world_id"]]


async def test_offsets_are_bounded_and_limits_stay_within_a_page(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    assert (await client.get("/worlds", params={"offset": LARGEST})).json() == []
    assert _field_of(await client.get("/worlds", params={"offset": ONE_PAST})) == [["query", "offset"]]
    assert _field_of(await client.get("/worlds", params={"limit": 1001})) == [["query", "limit"]]
    npcs = await client.get(f"/worlds/{world['id']}/npcs", params={"offset": SIXTY_FOUR_BITS_PAST})
    assert _field_of(npcs) == [["query", "offset"]]


@pytest.mark.parametrize("value", [True, False, "1"])
async def test_a_boolean_or_a_string_is_no_integer(
    client: httpx.AsyncClient, world: dict[str, Any], value: Any
) -> None:
    assert _field_of(await client.post("/sessions", json={"world_id": value})) == [["body", "world_id"]]


async def test_an_integral_float_is_still_an_integer_as_json_schema_has_it(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    created = await client.post("/sessions", json={"world_id": float(world["id"])})
    assert created.status_code == 201, created.text
    assert created.json()["world_id"] == world["id"]
    assert _field_of(await client.post("/sessions", json={"world_id": world["id"] + 0.5})) == [["body", "world_id"]]


async def test_a_tick_seed_must_be_a_json_integer_within_53_bits(
    client: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    url = f"/sessions/{session['id']}/tick"
    assert _field_of(await client.post(url, json={"seconds": 1, "seed": False})) == [["body", "seed"]]
    assert _field_of(await client.post(url, json={"seconds": 1, "seed": ONE_PAST})) == [["body", "seed"]]
    assert (await client.post(url, json={"seconds": 1, "seed": -LARGEST})).status_code == 200


def _step(operation: str, seconds: float) -> dict[str, Any]:
    return {"seconds": seconds, "seed": 1} if operation == "tick" else {"seconds": seconds}


@pytest.mark.parametrize("operation", ["tick", "advance-time"])
async def test_seconds_near_the_largest_float_are_a_422_and_nothing_moves(
    client: httpx.AsyncClient, session: dict[str, Any], operation: str
) -> None:
    url = f"/sessions/{session['id']}/{operation}"
    for _ in range(2):  # twice: the second used to overflow the clock to inf (500)
        assert _field_of(await client.post(url, json=_step(operation, 1.7e308))) == [["body", "seconds"]]
    assert _field_of(await client.post(url, json=_step(operation, 1e9 + 1))) == [["body", "seconds"]]
    stored = (await client.get(f"/sessions/{session['id']}")).json()
    assert (stored["world_time"], stored["version"]) == (0, 1)


@pytest.mark.parametrize("operation", ["tick", "advance-time"])
async def test_the_largest_step_is_taken_twice_and_the_clock_adds_it_up(
    client: httpx.AsyncClient, session: dict[str, Any], operation: str
) -> None:
    url = f"/sessions/{session['id']}/{operation}"
    for _ in range(2):
        assert (await client.post(url, json=_step(operation, 1e9))).status_code == 200
    assert (await client.get(f"/sessions/{session['id']}")).json()["world_time"] == 2e9


async def test_relationship_deltas_are_bounded(
    client: httpx.AsyncClient, session: dict[str, Any], npc: dict[str, Any]
) -> None:
    url = f"/sessions/{session['id']}/relationships/npc:{npc['id']}"
    assert _field_of(await client.post(url, json={"affinity": 1e308})) == [["body", "affinity"]]
    assert _field_of(await client.post(url, json={"trust": -1_000_001})) == [["body", "trust"]]
    assert (await client.post(url, json={"trust": -1_000_000})).status_code == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ('"1"', 200),
        ("1", 200),
        ('W/"1"', 200),
        ("*", 200),
        ('"2"', 409),
        ('"9999999999999999"', 409),  # 16 digits, past 2**53 - 1: never a session's version
        ("null", 422),
        ('"1', 422),
        ("²".encode(), 422),  # a Unicode digit, which str.isdigit takes
        ('"12345678901234567"', 422),  # 17 digits
    ],
)
async def test_if_match_takes_what_its_documentation_says(
    client: httpx.AsyncClient, session: dict[str, Any], header: str | bytes, status: int
) -> None:
    response = await client.patch(f"/sessions/{session['id']}/flags", json={"k": 1}, headers={"If-Match": header})
    assert response.status_code == status, response.text
    if status == 422:
        assert _field_of(response) == [["header", "if-match"]]

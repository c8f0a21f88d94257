from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI


async def test_not_found_is_an_rfc_9457_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/worlds/404")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:pixsim:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "world 404 not found",
    }


async def test_an_unknown_route_is_a_problem_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_validation_error_names_every_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/sessions", json={"world_id": "abc", "flags": []})

    body = response.json()
    assert response.status_code == 422
    assert (body["type"], body["title"], body["status"]) == (
        "urn:pixsim:problem:validation",
        "Unprocessable Content",
        422,
    )
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [("body", "flags"), ("body", "world_id")]
    assert "body.world_id" in body["detail"]


async def test_nan_in_json_is_refused_rather_than_stored(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/worlds", content=b'{"name": "x", "meta": {"a": NaN}}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


@pytest.fixture
async def raw_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # Starlette re-raises unhandled errors after sending the 500 (so servers log them); take the response instead.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_an_unexpected_error_is_a_500_problem_that_reveals_nothing(
    app: FastAPI, raw_client: httpx.AsyncClient
) -> None:
    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py")

    response = await raw_client.get("/api/v1/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:pixsim:problem:internal"
    assert "hunter2" not in response.text and "secret" not in response.text and "RuntimeError" not in response.text

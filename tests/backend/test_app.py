from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

import pixsim_hooks.backend as backend
from pixsim_hooks.backend import GameService, SqlStorage, create_app
from pixsim_hooks.host import Settings
from tests.backend.conftest import Recorder


async def test_the_lifespan_puts_settings_engine_storage_and_service_on_app_state(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = create_app(settings, entry_points=[])

    async with app.router.lifespan_context(app):
        assert app.state.settings is settings
        assert app.state.engine.url.database == make_url(database_url).database
        assert isinstance(app.state.storage, SqlStorage)
        assert isinstance(app.state.service, GameService) and app.state.service.storage is app.state.storage
        pool = app.state.engine.pool
        assert pool.checkedin() >= 1  # the schema was created through it

    assert pool.checkedin() == 0  # disposed on shutdown


def test_each_call_builds_an_independent_app() -> None:
    assert create_app(Settings()) is not create_app(Settings())


def _openapi() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def test_every_operation_has_a_tag_a_summary_and_a_documented_success_body() -> None:
    for path, item in _openapi()["paths"].items():
        for method, operation in item.items():
            assert operation["tags"] and operation["summary"], (method, path)
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert len(success) == 1, (method, path)
            if success[0] != "204":
                assert "schema" in operation["responses"][success[0]]["content"]["application/json"]


def test_error_responses_are_documented_as_problem_json() -> None:
    operation = _openapi()["paths"]["/api/v1/sessions/{session_id}/flags"]["patch"]

    for status in ("404", "409", "422", "500"):
        content = operation["responses"][status]["content"]
        assert list(content) == ["application/problem+json"], status
    assert {p["name"] for p in operation["parameters"]} == {"session_id", "if-match"}


def test_the_api_lives_under_api_v1() -> None:
    assert all(path.startswith("/api/v1/") for path in _openapi()["paths"])


def test_the_public_names_are_sorted_and_all_importable() -> None:
    assert backend.__all__ == sorted(backend.__all__)
    assert all(hasattr(backend, name) for name in backend.__all__)
    # Identifiers only: where pytest rewrites the package's asserts (an installed pytest11 plugin's distribution) it
    # adds "@py_builtins" and "@pytest_ar", which no attribute access can name.
    public = {name for name in vars(backend) if not name.startswith("_") and name.isidentifier()}
    assert public - set(backend.__all__) <= {"annotations", "app", "behavior", "cli", "events"}


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _serve(app: FastAPI, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    end = asyncio.get_running_loop().time() + 30  # uvicorn offers no event for "started": a bounded poll
    while not server.started:
        if task.done():
            task.result()  # surface a start-up failure
            pytest.fail("server stopped before starting")
        if asyncio.get_running_loop().time() > end:
            task.cancel()
            pytest.fail("server did not start within 30 s")
        await asyncio.sleep(0.01)
    return server, task


async def test_a_real_uvicorn_server_serves_the_api_over_tcp(database_url: str) -> None:
    recorder = Recorder()
    app = create_app(Settings(database_url=database_url), publish=recorder, entry_points=[])
    sock = _free_socket()
    port = sock.getsockname()[1]
    server, task = await _serve(app, sock)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as client:
            world = (await client.post("/worlds", json={"name": "Harbor"})).json()
            session = (await client.post("/sessions", json={"world_id": world["id"]})).json()
            flagged = await client.patch(f"/sessions/{session['id']}/flags", json={"over": "tcp"})
            missing = await client.get("/worlds/404")
        pool = app.state.engine.pool
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()

    assert flagged.json()["flags"] == {"over": "tcp"} and flagged.headers["etag"] == '"2"'
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert [type(e).__name__ for e in recorder.events] == ["SessionCreated", "SessionUpdated"]
    assert pool.checkedin() == 0  # the server's shutdown ran the lifespan, which disposed of the engine


async def test_a_failing_publish_does_not_fail_the_request(database_url: str) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("subscriber down")

    app = create_app(Settings(database_url=database_url), publish=broken, entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport) as client:
        world = await client.post("http://test/api/v1/worlds", json={"name": "Harbor"})
        created = await client.post("http://test/api/v1/sessions", json={"world_id": world.json()["id"]})
        stored = await client.get(f"http://test/api/v1/sessions/{created.json()['id']}")

    assert created.status_code == 201
    assert stored.json() == created.json()

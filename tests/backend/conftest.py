"""Backend fixtures: a database per test (SQLite file, or PostgreSQL when PIXSIM_TEST_DATABASE_URL is set), the
store on it, and the app with its lifespan running behind an in-process httpx client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks.backend import SqlStorage, create_app, create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._database import drop_schema
from pixsim_hooks.host import Settings

PG_URL_ENV = "PIXSIM_TEST_DATABASE_URL"
EventT = TypeVar("EventT")


class Recorder:
    """A ``publish`` that keeps every event it is given, in order."""

    def __init__(self) -> None:
        self.events: list[object] = []

    async def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type[EventT]) -> list[EventT]:
        return [event for event in self.events if isinstance(event, kind)]


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database with no game tables: a fresh SQLite file, or the PostgreSQL test database emptied."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'game.sqlite3'}"
        return
    engine = create_engine(url)
    try:
        await drop_schema(engine)  # isolation: whatever an earlier test (or run) left behind goes
        yield url
        await drop_schema(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def storage(engine: AsyncEngine) -> SqlStorage:
    return SqlStorage(create_sessionmaker(engine))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def app(database_url: str, recorder: Recorder) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(database_url=database_url), publish=recorder, entry_points=[])
    # httpx's ASGITransport does not run the lifespan; run it around the test ourselves.
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
        yield client


async def post_ok(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST that must succeed; returns the JSON body."""
    response = await client.post(url, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    return await post_ok(client, "/worlds", {"name": "Harbor", "meta": {"behavior": {"version": 2}}})


@pytest.fixture
async def npc(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, Any]:
    return await post_ok(client, f"/worlds/{world['id']}/npcs", {"name": "Alex"})


@pytest.fixture
async def location(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, Any]:
    return await post_ok(client, f"/worlds/{world['id']}/locations", {"name": "Market"})


@pytest.fixture
async def session(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, Any]:
    return await post_ok(client, "/sessions", {"world_id": world["id"]})


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A CLI command run in this process (``CliRunner``) configures structlog for the process, its level included;
    give the rest of the suite its configuration back (a later test capturing debug logs would see none)."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)

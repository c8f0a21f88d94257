"""Fixtures for the contrib plugins: a real host on a real SQLite file, and the backend app serving them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pixsim_hooks import WorldSnapshot
from pixsim_hooks.backend import SqlStorage, create_app, create_engine, create_schema, create_sessionmaker
from pixsim_hooks.host import PluginHost, Settings, create_host

LoadHost = Callable[..., Awaitable[PluginHost]]
MakeWorld = Callable[..., Awaitable[WorldSnapshot]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'contrib.sqlite3'}"


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[SqlStorage]:
    """The backend's real store on a fresh SQLite file."""
    engine = create_engine(database_url)
    await create_schema(engine)
    yield SqlStorage(create_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
def load_host(storage: SqlStorage) -> LoadHost:
    """``await load_host(module, ..., **settings)``: a loaded host with exactly these plugins, on ``storage``."""

    async def load(*plugins: object, **settings: Any) -> PluginHost:
        host = create_host(Settings(**settings), storage=storage, plugins=plugins, entry_points=[])
        await host.load()
        return host

    return load


@pytest.fixture
def make_world(storage: SqlStorage) -> MakeWorld:
    """``await make_world(enabled=["audit"])``: a world whose ``enabledPlugins`` is ``enabled`` (None: key absent)."""

    async def make(*, enabled: Sequence[str] | None = None, name: str = "Harbor") -> WorldSnapshot:
        behavior: dict[str, Any] = {"version": 2}
        if enabled is not None:
            behavior["enabledPlugins"] = list(enabled)
        return await storage.worlds.create_world(name, {"behavior": behavior})

    return make


async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``app`` with its lifespan running (httpx's ASGITransport does not run it)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            yield client


@pytest.fixture
async def client(database_url: str, plugins: Sequence[object]) -> AsyncIterator[httpx.AsyncClient]:
    """The backend app with the test module's ``plugins`` (and no installed entry points), on its own database."""
    app = create_app(Settings(database_url=database_url), plugins=plugins, entry_points=[])
    async for client in serve(app):
        yield client


async def created(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result

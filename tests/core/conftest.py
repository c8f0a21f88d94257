"""Fixtures for the host core: loading throwaway plugins into a fresh host."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pixsim_hooks import PluginHost, Settings, Storage, create_host

MakeHost = Callable[..., Awaitable[PluginHost]]


@pytest.fixture
def make_host() -> MakeHost:
    """``await make_host(plugin, ..., settings=..., storage=..., entry_points=...)`` → a loaded host."""

    async def build(
        *plugins: object,
        settings: Settings | None = None,
        storage: Storage | None = None,
        entry_points: Any = (),
        **settings_fields: Any,
    ) -> PluginHost:
        settings = settings or Settings(**settings_fields)
        host = create_host(settings, storage=storage, plugins=plugins, entry_points=entry_points)
        await host.load()
        return host

    return build


@pytest.fixture
async def storage(tmp_path: Any) -> AsyncIterator[Any]:
    """The real game store on a fresh SQLite file (the backend's SqlStorage)."""
    from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
    from pixsim_hooks.backend._store import SqlStorage

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'core.sqlite3'}")
    await create_schema(engine)
    yield SqlStorage(create_sessionmaker(engine))
    await engine.dispose()

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks import ConfigError
from pixsim_hooks.backend import create_engine, create_schema


async def _pragma(engine: AsyncEngine, name: str) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """Always a SQLite file, whatever database the rest of the suite runs on: these are SQLite's settings."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'settings.sqlite3'}")
    yield engine
    await engine.dispose()


async def test_sqlite_connections_use_wal_so_readers_do_not_block_the_writer(sqlite_engine: AsyncEngine) -> None:
    assert await _pragma(sqlite_engine, "journal_mode") == "wal"


async def test_sqlite_connections_wait_for_the_write_lock_instead_of_failing(sqlite_engine: AsyncEngine) -> None:
    assert await _pragma(sqlite_engine, "busy_timeout") == 30_000


async def test_sqlite_connections_enforce_foreign_keys(sqlite_engine: AsyncEngine) -> None:
    assert await _pragma(sqlite_engine, "foreign_keys") == 1


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "sqlite://"])
def test_in_memory_sqlite_is_refused_with_a_config_error_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_engine(url)
    assert caught.value.path == "database_url"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///./x.sqlite3", "sqlite+aiosqlite"),
        ("postgresql://u@localhost/db", "postgresql+asyncpg"),
        ("postgres://u@localhost/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@localhost/db", "postgresql+asyncpg"),
    ],
)
async def test_plain_urls_get_the_async_driver(url: str, driver: str) -> None:
    engine = create_engine(url)
    try:
        assert engine.url.drivername == driver
    finally:
        await engine.dispose()


async def test_creating_the_schema_twice_is_harmless(engine: AsyncEngine) -> None:
    await create_schema(engine)
    await create_schema(engine)

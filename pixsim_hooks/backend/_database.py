"""Engine, session factory and schema for the game database: a SQLite file by default, PostgreSQL by URL.

The schema is created with ``create_all`` at start-up: five tables, no migrations yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from pixsim_hooks.backend._models import Base
from pixsim_hooks.plugin import ConfigError

__all__ = [
    "create_engine",
    "create_schema",
    "create_sessionmaker",
    "drop_schema",
]

# A plain driver name gets the async driver this package ships with, so operators can paste ordinary URLs.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def create_engine(url: str, *, busy_timeout_s: float = 30.0, **engine_kwargs: Any) -> AsyncEngine:
    """Build the async engine for ``url``; SQLite connections get WAL, a busy timeout and foreign keys.

    Raises ConfigError for an in-memory SQLite URL: each pooled connection would see its own empty database.
    """
    parsed = _async_url(url)
    engine = create_async_engine(parsed, **engine_kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms=int(busy_timeout_s * 1000))
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Rows are turned into snapshots before the session closes, so nothing needs reloading after commit.
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Create the game tables that do not exist yet (idempotent)."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_schema(engine: AsyncEngine) -> None:
    """Drop the game tables (tests and throwaway databases only)."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


def _async_url(url: str) -> URL:
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() == "sqlite" and _is_memory_sqlite(parsed):
        raise ConfigError(
            "in-memory SQLite is not supported (each connection would get its own empty database); "
            "use a file such as sqlite+aiosqlite:///./pixsim.sqlite3",
            path="database_url",
        )
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the single writer; the busy timeout makes concurrent writers queue for
        # the write lock instead of failing with "database is locked"; NORMAL sync is the usual WAL pairing.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

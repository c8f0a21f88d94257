from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks.backend import Base

GAME_TABLES = {"game_worlds", "game_locations", "game_npcs", "game_sessions", "generations"}


def _schema(sync_conn: Connection) -> dict[str, list[str]]:
    inspector = inspect(sync_conn)
    return {table: [c["name"] for c in inspector.get_columns(table)] for table in inspector.get_table_names()}


async def _db_schema(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema)


async def test_the_database_holds_exactly_the_five_game_tables_and_nothing_for_plugins(engine: AsyncEngine) -> None:
    schema = await _db_schema(engine)

    assert set(schema) == GAME_TABLES
    names = [*schema, *(f"{table}.{column}" for table, columns in schema.items() for column in columns)]
    assert [name for name in names if "plugin" in name.lower()] == []


async def test_the_schema_the_app_creates_at_start_is_the_game_schema(client: httpx.AsyncClient, app: Any) -> None:
    schema = await _db_schema(app.state.engine)

    assert set(schema) == GAME_TABLES
    assert set(schema["game_sessions"]) == {"id", "world_id", "flags", "relationships", "world_time", "version"}


def test_the_metadata_declares_only_the_game_tables() -> None:
    assert set(Base.metadata.tables) == GAME_TABLES


async def test_session_rows_carry_a_version_column_for_optimistic_locking(engine: AsyncEngine) -> None:
    schema = await _db_schema(engine)

    assert "version" in schema["game_sessions"]


def _json_column_types(sync_conn: Connection) -> set[str]:
    inspector = inspect(sync_conn)
    return {type(c["type"]).__name__ for c in inspector.get_columns("game_sessions") if c["name"] == "flags"}


async def test_json_columns_are_jsonb_on_postgresql_and_json_elsewhere(engine: AsyncEngine) -> None:
    expected = {"JSONB"} if engine.dialect.name == "postgresql" else {"JSON"}
    async with engine.connect() as conn:
        assert await conn.run_sync(_json_column_types) == expected

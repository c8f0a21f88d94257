"""The five game tables, in SQLAlchemy 2 typed declarative form.

Plugins get no table and no column here (DESIGN.md decision 9): their data lives in the JSON columns ``meta``,
``flags`` and ``relationships``, namespaced ``plugin:<id>:...`` by the capability layer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Double, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "GameLocation",
    "GameNPC",
    "GameSession",
    "GameWorld",
    "Generation",
]

# JSONB on PostgreSQL (binary, indexable); plain JSON text elsewhere.
JsonType = JSON().with_variant(JSONB(), "postgresql")
JsonMap = dict[str, Any]
# Ids and versions are signed 64-bit everywhere (the API bounds them to 2**63 - 1): BIGINT on PostgreSQL, whose
# INTEGER stops at 2**31 - 1; SQLite's INTEGER PRIMARY KEY is already 64-bit, and only it is the rowid alias.
Id64 = BigInteger().with_variant(Integer(), "sqlite")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {JsonMap: JsonType}


class GameWorld(Base):
    __tablename__ = "game_worlds"

    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    meta: Mapped[JsonMap] = mapped_column(default=dict)


class GameLocation(Base):
    __tablename__ = "game_locations"

    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    world_id: Mapped[int] = mapped_column(Id64, ForeignKey("game_worlds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    meta: Mapped[JsonMap] = mapped_column(default=dict)


class GameNPC(Base):
    __tablename__ = "game_npcs"

    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    world_id: Mapped[int] = mapped_column(Id64, ForeignKey("game_worlds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    meta: Mapped[JsonMap] = mapped_column(default=dict)


class GameSession(Base):
    __tablename__ = "game_sessions"

    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    world_id: Mapped[int] = mapped_column(Id64, ForeignKey("game_worlds.id", ondelete="CASCADE"), index=True)
    flags: Mapped[JsonMap] = mapped_column(default=dict)
    relationships: Mapped[JsonMap] = mapped_column(default=dict)
    world_time: Mapped[float] = mapped_column(Double, default=0.0)
    # Optimistic lock: each write is ``UPDATE ... WHERE version = :read`` and bumps it (_session_store.py).
    version: Mapped[int] = mapped_column(Id64, default=1)


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    # Generations outlive the world they were asked for: the link is cleared, the record kept.
    world_id: Mapped[int | None] = mapped_column(
        Id64, ForeignKey("game_worlds.id", ondelete="SET NULL"), index=True, nullable=True
    )
    prompt: Mapped[str] = mapped_column(Text)
    params: Mapped[JsonMap] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(32), default="pending")
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

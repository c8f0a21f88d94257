"""ORM rows to snapshots, and the short single-purpose transactions every store method is built from.

Each helper opens its own session and transaction and returns snapshots built before the session closes, so
no live row ever leaves this module. Write transactions start with their write statement: on SQLite a
transaction that reads first and then writes fails at once with ``SQLITE_BUSY`` when another writer committed
in between, while one that begins with the write waits for the lock under the busy timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from pixsim_hooks.backend._models import Base, GameLocation, GameNPC, GameSession, GameWorld, Generation
from pixsim_hooks.plugin import (
    GenerationSnapshot,
    LocationSnapshot,
    NotFoundError,
    NpcSnapshot,
    SessionSnapshot,
    WorldSnapshot,
    thaw,
)

__all__ = [
    "SqlTable",
    "generation_snapshot",
    "location_snapshot",
    "npc_snapshot",
    "session_snapshot",
    "world_snapshot",
]

RowT = TypeVar("RowT", bound=Base)
SnapT = TypeVar("SnapT")


def world_snapshot(row: GameWorld) -> WorldSnapshot:
    return WorldSnapshot(id=row.id, name=row.name, meta=row.meta)


def location_snapshot(row: GameLocation) -> LocationSnapshot:
    return LocationSnapshot(id=row.id, world_id=row.world_id, name=row.name, meta=row.meta)


def npc_snapshot(row: GameNPC) -> NpcSnapshot:
    return NpcSnapshot(id=row.id, world_id=row.world_id, name=row.name, meta=row.meta)


def session_snapshot(row: GameSession) -> SessionSnapshot:
    return SessionSnapshot(
        id=row.id,
        world_id=row.world_id,
        world_time=row.world_time,
        version=row.version,
        flags=row.flags,
        relationships=row.relationships,
    )


def generation_snapshot(row: Generation) -> GenerationSnapshot:
    return GenerationSnapshot(
        id=row.id,
        world_id=row.world_id,
        prompt=row.prompt,
        status=row.status,
        requested_by=row.requested_by,
        created_at=_aware(row.created_at),
        params=row.params,
    )


def _aware(value: datetime) -> datetime:
    # SQLite keeps no time zone; every timestamp this backend writes is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SqlTable:
    """Generic one-transaction reads and writes over one model; subclasses add the typed store methods."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def _get(self, model: type[RowT], row_id: int, snap: Callable[[RowT], SnapT]) -> SnapT | None:
        async with self._sessionmaker() as session:
            row = await session.get(model, row_id)
            return None if row is None else snap(row)

    async def _list(
        self, model: type[RowT], snap: Callable[[RowT], SnapT], *where: Any, limit: int | None, offset: int
    ) -> tuple[SnapT, ...]:
        query = select(model).where(*where).order_by(_id(model)).offset(offset).limit(limit)
        async with self._sessionmaker() as session:
            rows: Sequence[RowT] = (await session.scalars(query)).all()
            return tuple(snap(row) for row in rows)

    async def _insert(
        self,
        row: RowT,
        snap: Callable[[RowT], SnapT],
        *,
        parent: str,
        then: Callable[[SnapT], Awaitable[None]] | None = None,
    ) -> SnapT:
        """Insert ``row``; a missing parent (foreign key) is reported as ``NotFoundError(parent)``. ``then`` runs
        in the transaction, after the insert and before the commit."""
        try:
            async with self._sessionmaker() as session, session.begin():
                session.add(row)
                await session.flush()
                inserted = snap(row)
                if then is not None:
                    await then(inserted)
                return inserted
        except IntegrityError as exc:
            raise NotFoundError(f"{parent} not found") from exc

    async def _update(
        self,
        model: type[RowT],
        row_id: int,
        values: Mapping[str, Any],
        snap: Callable[[RowT], SnapT],
        *,
        what: str,
    ) -> SnapT:
        """``UPDATE ... RETURNING`` in one statement; no values means a plain read."""
        if not values:
            found = await self._get(model, row_id, snap)
            if found is None:
                raise NotFoundError(f"{what} {row_id} not found")
            return found
        query = update(model).where(_id(model) == row_id).values(**_plain(values)).returning(model)
        async with self._sessionmaker() as session, session.begin():
            row = (await session.scalars(query)).one_or_none()
            if row is None:
                raise NotFoundError(f"{what} {row_id} not found")
            return snap(row)

    async def _delete(
        self, model: type[RowT], row_id: int, *, what: str, then: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Delete one row; ``then`` runs in the transaction, after the delete and before the commit."""
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                delete(model).where(_id(model) == row_id).execution_options(synchronize_session=False)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"{what} {row_id} not found")
            if then is not None:
                await then()


def _id(model: type[Base]) -> InstrumentedAttribute[int]:
    # Every game table's primary key is ``id``; Base itself declares no columns, so tell the type checker.
    column: InstrumentedAttribute[int] = getattr(model, "id")  # noqa: B009
    return column


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    # Frozen snapshot JSON (FrozenDict, tuples) goes back to plain dicts and lists before it is stored.
    plain: dict[str, Any] = thaw(values)
    return plain

"""Game sessions under optimistic locking: read, compute, ``UPDATE ... WHERE version = :read``, retry.

No row lock is held while the new state is computed, so PostgreSQL replicas and SQLite writers alike only ever
wait for one short UPDATE. A lost race re-reads and recomputes (deltas are re-applied to the fresh values), so
concurrent writers never lose each other's updates. Every write that changes a session (a plugin's too) passes
through one :class:`~pixsim_hooks.backend._journal.Emission` between its statement and its commit, while it holds
the row: the events of the write are appended to the journal there, in the order the versions commit.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pixsim_hooks.backend._journal import Emission, Journal
from pixsim_hooks.backend._models import GameSession
from pixsim_hooks.backend._rows import SqlTable, session_snapshot
from pixsim_hooks.plugin import ConfigError, NotFoundError, SessionChange, SessionSnapshot, StaleWriteError, thaw

__all__ = ["SessionWrite", "SqlSessionStore", "apply_session_change"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SessionWrite:
    """A committed session change: the version it was applied to and the version it produced.

    ``before is after`` when the change was empty and nothing was written.
    """

    before: SessionSnapshot
    after: SessionSnapshot


def apply_session_change(before: SessionSnapshot, change: SessionChange) -> SessionSnapshot:
    """The session ``change`` turns ``before`` into (pure; the version is bumped by one).

    Flags: deletes, then sets (top-level keys). Relationships: each delta is added to the current metric
    value, a missing or non-numeric value counting as 0. Raises ValueError for a non-finite number, before any
    write.
    """
    flags: dict[str, Any] = thaw(before.flags)
    for key in change.delete_flags:
        flags.pop(key, None)
    flags.update(thaw(change.set_flags))
    return replace(
        before,
        flags=flags,
        relationships=_add_deltas(thaw(before.relationships), change.relationship_deltas),
        world_time=_finite(before.world_time + change.world_time_delta, "world_time"),
        version=before.version + 1,
    )


def _add_deltas(relationships: dict[str, Any], deltas: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    for npc_key, metrics in deltas.items():
        current = relationships.get(npc_key)
        entry: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
        for metric, delta in metrics.items():
            entry[metric] = _finite(_number(entry.get(metric)) + delta, f"relationships.{npc_key}.{metric}")
        relationships[npc_key] = entry
    return relationships


def _number(value: object) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return value if is_number else 0  # type: ignore[return-value]


def _finite(value: float, path: str) -> float:
    # Refused as the caller's (422 through the API, the plugin's failure through a capability), not the store's: a
    # sum of finite numbers can still overflow to infinity, which no JSON or DOUBLE column holds.
    if not math.isfinite(value):
        raise ConfigError(f"{path} would become {value}; only finite numbers can be stored", path=path)
    return value


class SqlSessionStore(SqlTable):
    """Sessions: create, read, delete, and version-checked changes with bounded, jittered retries."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        max_attempts: int = 30,
        backoff_s: float = 0.005,
        max_backoff_s: float = 0.2,
        journal: Journal | None = None,
    ) -> None:
        super().__init__(sessionmaker)
        self._journal = journal
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s

    async def get_session(self, session_id: int) -> SessionSnapshot | None:
        return await self._get(GameSession, session_id, session_snapshot)

    async def create_session(
        self,
        world_id: int,
        *,
        flags: Mapping[str, Any] | None = None,
        relationships: Mapping[str, Any] | None = None,
        world_time: float = 0.0,
        emission: Emission | None = None,
    ) -> SessionSnapshot:
        emission = emission or Emission()
        row = GameSession(
            world_id=world_id,
            flags=thaw(flags or {}),
            relationships=thaw(relationships or {}),
            world_time=world_time,
            version=1,
        )

        async def journal(created: SessionSnapshot) -> None:
            await emission.inside(self._journal, f"session:{created.id}", before=0, version=1, source=created)

        return await self._insert(row, session_snapshot, parent=f"world {world_id}", then=journal)

    async def delete_session(self, session_id: int) -> None:
        query = delete(GameSession).where(GameSession.id == session_id).returning(GameSession.version)
        async with self._sessionmaker() as session, session.begin():
            version = (await session.execute(query)).scalar_one_or_none()
            if version is None:
                raise NotFoundError(f"session {session_id} not found")
            # Noted, so that the events of the session's last writes are still known to have committed.
            await Emission().inside(
                self._journal, f"session:{session_id}", before=version, version=version, deleted=True
            )

    async def apply_change(self, session_id: int, change: SessionChange) -> SessionSnapshot:
        """Apply ``change`` atomically and return the new snapshot (see :meth:`write`)."""
        return (await self.write(session_id, change)).after

    async def write(self, session_id: int, change: SessionChange, emission: Emission | None = None) -> SessionWrite:
        """Apply ``change`` and return both the snapshot it was applied to and the result.

        ``emission`` builds the write's events from its :class:`SessionWrite` inside the transaction. NotFoundError:
        no such session. StaleWriteError: ``change.expected_version`` is not the current version, or (without it)
        each of ``max_attempts`` attempts lost to a concurrent writer. Nothing is written when it raises.
        """
        emission = emission or Emission()
        for attempt in range(self._max_attempts):
            before = await self._read(session_id)
            _check_expected(before, change)
            if change.is_empty:
                unchanged = SessionWrite(before, before)
                await emission.inside(
                    self._journal,
                    f"session:{session_id}",
                    before=before.version,
                    version=before.version,
                    source=unchanged,
                    locked=False,
                )
                return unchanged
            after = apply_session_change(before, change)
            if await self._compare_and_set(SessionWrite(before, after), emission):
                return SessionWrite(before, after)
            if change.expected_version is not None:  # the caller pinned a version: no retry on a lost race
                raise StaleWriteError(f"session {session_id} changed after version {change.expected_version}")
            await asyncio.sleep(random.uniform(0, min(self._max_backoff_s, self._backoff_s * 2**attempt)))
        log.warning("session write gave up", session_id=session_id, attempts=self._max_attempts)
        raise StaleWriteError(
            f"session {session_id} kept changing under concurrent writers; gave up after {self._max_attempts} attempts"
        )

    async def _read(self, session_id: int) -> SessionSnapshot:
        snapshot = await self.get_session(session_id)
        if snapshot is None:
            raise NotFoundError(f"session {session_id} not found")
        return snapshot

    async def _compare_and_set(self, write: SessionWrite, emission: Emission) -> bool:
        """Write ``write.after`` if the row is still at ``write.before``'s version; False if another writer came
        first. Journaled before the commit, while the UPDATE holds the row."""
        read_version, after = write.before.version, write.after
        query = (
            update(GameSession)
            .where(GameSession.id == after.id, GameSession.version == read_version)
            .values(
                flags=thaw(after.flags),
                relationships=thaw(after.relationships),
                world_time=after.world_time,
                version=after.version,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(query)
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            subject = f"session:{after.id}"
            await emission.inside(self._journal, subject, before=read_version, version=after.version, source=write)
            return True


def _check_expected(snapshot: SessionSnapshot, change: SessionChange) -> None:
    expected = change.expected_version
    if expected is not None and snapshot.version != expected:
        raise StaleWriteError(f"session {snapshot.id} is at version {snapshot.version}, not {expected}")

"""What a committed write announces, written down before its commit.

Every write of a session or an NPC goes through one :class:`Emission`: the events it publishes are built inside its
transaction from the rows it wrote, stamped with a stable id and the session's version, and, with a :class:`Journal`
(the Redis event log of a deployment), appended there *while the transaction still holds the row's lock*, just before
the commit. Each append also leaves a :class:`Note` of the write on its subject ("session:7"), which lets a consumer
decide later, from the database alone, whether the write behind an event committed (``backend.events``).

Without a journal, or when appending failed, ``journaled`` stays False and the service delivers the events inline
after the commit, as one process always has.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Emission", "Journal", "Note"]


@dataclass(frozen=True, slots=True)
class Note:
    """One write of one subject, as the journal records it.

    ``before`` is the subject's version the write found (0: the row is new), ``version`` the one it produced (equal
    to ``before`` for a delete). ``locked``: the write holds the row's lock until its commit; an event of a change
    that wrote nothing is appended without a lock and notes nothing.
    """

    subject: str
    before: int
    version: int
    write_id: str
    deleted: bool = False
    locked: bool = True


class Journal(Protocol):
    async def record(self, note: Note, events: Sequence[object]) -> bool:
        """Append ``events`` with ``note``; False when that could not be done (the caller delivers inline)."""
        ...


class Emission:
    """The events of one write: built and journaled in its transaction by the store, read by the service after."""

    def __init__(self, build: Callable[[Any], Sequence[object]] | None = None) -> None:
        self.write_id = uuid.uuid4().hex
        self._build = build
        self.events: tuple[object, ...] = ()
        self.journaled = False

    async def inside(
        self,
        journal: Journal | None,
        subject: str,
        *,
        before: int,
        version: int,
        source: object = None,
        deleted: bool = False,
        locked: bool = True,
    ) -> None:
        """Called by the store inside the write's transaction, after its statement and before its commit."""
        built = self._build(source) if self._build is not None else ()
        session_version = version if subject.startswith("session:") else None
        self.events = tuple(
            dataclasses.replace(event, event_id=f"{self.write_id}.{n}", session_version=session_version)  # type: ignore[type-var]
            for n, event in enumerate(built)
        )
        if journal is not None:
            note = Note(subject, before, version, self.write_id, deleted=deleted, locked=locked)
            self.journaled = await journal.record(note, self.events)

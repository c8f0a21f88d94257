"""Sessions of the admin page, kept on the server: the cookie carries only a random session id.

:class:`AdminSessionStore` is the whole interface — create, validate, revoke, revoke all — so that a store shared
by replicas (Redis, design decision 11: ``SET key binding EX ttl``, ``GET``, ``DEL``) can replace the one-process
default, :class:`MemorySessions`, which the app owns (``app.state.admin_sessions``). Each session is bound to the
admin token it was opened under through a keyed fingerprint (``binding``; never the token itself), so changing the
token ends every session. The store keeps ids hashed: what it holds (a process dump, a shared store) is no cookie.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["AdminSessionStore", "MemorySessions"]


class AdminSessionStore(Protocol):
    """Where admin page sessions live. Async throughout, so that a networked store fits the same calls."""

    async def create(self, binding: str, ttl_s: float) -> str:
        """Open a session bound to ``binding`` for ``ttl_s`` seconds; return its new random id."""

    async def validate(self, session_id: str, binding: str) -> bool:
        """True while the session exists, has not expired and was opened under ``binding``."""

    async def revoke(self, session_id: str) -> None:
        """End one session (unknown ids are ignored)."""

    async def revoke_all(self) -> None:
        """End every session."""


class MemorySessions:
    """The in-process :class:`AdminSessionStore`: enough for one process; replicas need a shared store.

    At most ``limit`` live sessions (only a holder of the admin token opens one; the cap keeps a loop of logins
    from growing memory): the oldest goes first. ``clock`` is monotonic seconds (tests pass their own).
    """

    def __init__(self, *, limit: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}  # hashed id -> (binding, expires at)

    async def create(self, binding: str, ttl_s: float) -> str:
        now = self._clock()
        self._purge(now)
        while len(self._sessions) >= self._limit:
            del self._sessions[next(iter(self._sessions))]  # insertion order: the oldest session
        session_id = secrets.token_urlsafe(32)
        self._sessions[_hashed(session_id)] = (binding, now + ttl_s)
        return session_id

    async def validate(self, session_id: str, binding: str) -> bool:
        key = _hashed(session_id)
        entry = self._sessions.get(key)
        if entry is None:
            return False
        bound, expires = entry
        if expires <= self._clock() or not secrets.compare_digest(bound.encode(), binding.encode()):
            del self._sessions[key]  # expired, or opened under another token: it can never be valid again
            return False
        return True

    async def revoke(self, session_id: str) -> None:
        self._sessions.pop(_hashed(session_id), None)

    async def revoke_all(self) -> None:
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self, now: float) -> None:
        for key in [key for key, (_, expires) in self._sessions.items() if expires <= now]:
            del self._sessions[key]


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()

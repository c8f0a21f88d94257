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
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["AdminSessionStore", "MemorySessions", "RedisSessions", "session_store"]

_log = structlog.get_logger("pixsim_hooks.admin")


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

    async def close(self) -> None:
        """Release what the store holds (connections); the app's lifespan calls it at the end."""


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

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self, now: float) -> None:
        for key in [key for key, (_, expires) in self._sessions.items() if expires <= now]:
            del self._sessions[key]


class RedisSessions:
    """The :class:`AdminSessionStore` of a deployment (``PIXSIM_REDIS_URL``): a session opened by one process is
    valid in every other, and revoking it there ends it everywhere at once (each check reads Redis: the admin page is
    no hot path). A key per session, ``<prefix>:<hashed id>`` → binding, expiring with the session. Redis unreachable:
    a check fails closed (the session is refused, and the log says why), a login fails."""

    def __init__(self, url: str, *, prefix: str = "pixsim:v1:admin-session") -> None:
        import redis.asyncio as aioredis  # an optional dependency: only a deployment of several processes needs it

        self._redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self._prefix = prefix

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}:{_hashed(session_id)}"

    async def create(self, binding: str, ttl_s: float) -> str:
        session_id = secrets.token_urlsafe(32)
        await self._redis.set(self._key(session_id), binding, px=max(1, int(ttl_s * 1000)))
        return session_id

    async def validate(self, session_id: str, binding: str) -> bool:
        from redis.exceptions import RedisError

        key = self._key(session_id)
        try:
            bound = await self._redis.get(key)
            if bound is None:
                return False
            if not secrets.compare_digest(str(bound).encode(), binding.encode()):
                await self._redis.delete(key)  # opened under another token: it can never be valid again
                return False
        except (RedisError, OSError) as exc:
            _log.warning(
                "admin session refused: the session store is unreachable", error=f"{type(exc).__name__}: {exc}"
            )
            return False
        return True

    async def revoke(self, session_id: str) -> None:
        await self._redis.delete(self._key(session_id))

    async def revoke_all(self) -> None:
        keys = [key async for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=500)]
        if keys:
            await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()


def session_store(redis_url: str | None) -> AdminSessionStore:
    """The admin sessions' store: shared on Redis when the deployment has one, else this process's memory."""
    return RedisSessions(redis_url) if redis_url is not None else MemorySessions()


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()

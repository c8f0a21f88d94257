"""Admin page sessions on Redis (issue 13): one opened through one process's store is valid through another's,
revoked through either it is gone for both, and with Redis unreachable a session is refused, never let through."""

from __future__ import annotations

from pathlib import Path

from pixsim_hooks.backend._api._admin_sessions import RedisSessions
from tests.redis_server import RedisServer

BINDING = "fingerprint-of-the-admin-token"


async def test_a_session_opened_in_one_store_is_valid_in_another_until_revoked_there(redis_url: str) -> None:
    a, b = RedisSessions(redis_url), RedisSessions(redis_url)
    try:
        session = await a.create(BINDING, ttl_s=60)
        assert await b.validate(session, BINDING) is True
        assert await b.validate(session, "another-token's-fingerprint") is False  # and it is gone now
        assert await a.validate(session, BINDING) is False
        again = await a.create(BINDING, ttl_s=60)
        await b.revoke(again)
        assert await a.validate(again, BINDING) is False
    finally:
        await a.close()
        await b.close()


async def test_revoking_all_ends_every_session_and_nothing_else(redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = RedisSessions(redis_url)
    other = aioredis.from_url(redis_url, decode_responses=True)
    try:
        sessions = [await store.create(BINDING, ttl_s=60) for _ in range(3)]
        await other.set("pixsim:v1:plugins-unrelated", "kept")
        await store.revoke_all()
        assert [await store.validate(s, BINDING) for s in sessions] == [False] * 3
        assert await other.get("pixsim:v1:plugins-unrelated") == "kept"
    finally:
        await store.close()
        await other.aclose()


async def test_a_session_expires_with_its_time_to_live(redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = RedisSessions(redis_url)
    raw = aioredis.from_url(redis_url, decode_responses=True)
    try:
        session = await store.create(BINDING, ttl_s=30)
        (key,) = [key async for key in raw.scan_iter(match="pixsim:v1:admin-session:*")]
        assert 0 < await raw.pttl(key) <= 30_000  # Redis ends it: no process has to
        assert session not in key  # the id is kept hashed
    finally:
        await store.close()
        await raw.aclose()


async def test_with_redis_unreachable_a_session_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    store = RedisSessions(server.url)
    try:
        session = await store.create(BINDING, ttl_s=60)
        server.stop()
        assert await store.validate(session, BINDING) is False
    finally:
        server.stop()
        await store.close()

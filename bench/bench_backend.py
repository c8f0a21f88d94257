"""Backend store and API costs against the bare SQLAlchemy / store calls they wrap, on a temporary SQLite file.

Each row times an operation and, right after it, the thinner operation underneath, both in one event loop (the
aiosqlite connections belong to it), so the ratio shows what each layer adds.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import select, text, update

from bench._harness import Row, Target, print_rows, ratio_at_most
from pixsim_hooks.backend import GameService, GameSession, create_app, create_sessionmaker
from pixsim_hooks.host import Settings
from pixsim_hooks.plugin import SessionChange

NUMBER, REPEAT = 100, 3


async def _per_op_ns(fn: Callable[[], Awaitable[object]]) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter_ns()
        for _ in range(NUMBER):
            await fn()
        best = min(best, (time.perf_counter_ns() - start) / NUMBER)
    return best


async def _measure(url: str) -> list[Row]:
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        service: GameService = app.state.service
        sessions = service.storage.sessions
        world = await service.create_world("Bench")
        sid = (await service.create_session(world.id)).id
        maker = create_sessionmaker(app.state.engine)

        async def raw_select() -> object:
            async with maker() as db:
                return (await db.execute(select(GameSession.flags).where(GameSession.id == sid))).one()

        async def raw_update() -> object:
            async with maker() as db, db.begin():
                bump = GameSession.version + 1
                return await db.execute(update(GameSession).where(GameSession.id == sid).values(version=bump))

        async def raw_ping() -> object:
            async with maker() as db:
                return await db.execute(text("SELECT 1"))

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/v1") as client:
            Case = tuple[str, Callable[[], Awaitable[object]], str, Callable[[], Awaitable[object]], Target | None]
            cases: list[Case] = [
                ("store.get_session", lambda: sessions.get_session(sid), "raw select", raw_select, ratio_at_most(2)),
                (
                    "store.apply_change",  # uncontended: a read and a compare-and-set write
                    lambda: sessions.apply_change(sid, SessionChange(set_flags={"k": 1})),
                    "raw UPDATE",
                    raw_update,
                    ratio_at_most(3),
                ),
                (
                    "service.set_flags",  # publish = drop
                    lambda: service.set_flags(sid, {"k": 1}),
                    "store.apply_change",
                    lambda: sessions.apply_change(sid, SessionChange(set_flags={"k": 1})),
                    ratio_at_most(1.2),
                ),
                (
                    "http.get_session",  # in-process ASGI
                    lambda: client.get(f"/sessions/{sid}"),
                    "store.get_session",
                    lambda: sessions.get_session(sid),
                    None,
                ),
                ("store.raw_select", raw_select, "SELECT 1", raw_ping, None),
            ]
            return [
                Row(name, await _per_op_ns(fn), base_name, await _per_op_ns(base), target)
                for name, fn, base_name, base, target in cases
            ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"))


if __name__ == "__main__":
    print_rows("backend", run())

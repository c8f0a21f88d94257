"""``simulate`` (``pixsim-hooks simulate``): tables per tick, repeatable with a seed, clean failures.

Comparing two runs needs two identical databases, so these tests make their own SQLite files; the engine itself is
covered on PostgreSQL by the other behavior tests.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import typer
from rich.console import Console

from pixsim_hooks.backend import GameService, SqlStorage, create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._cli_simulate import simulate
from pixsim_hooks.backend._demo import seed_demo_world


def seeded(path: Path) -> tuple[str, int]:
    url = f"sqlite+aiosqlite:///{path}"

    async def seed() -> int:
        engine = create_engine(url)
        await create_schema(engine)
        demo = await seed_demo_world(GameService(SqlStorage(create_sessionmaker(engine))))
        await engine.dispose()
        return demo.world.id

    return url, asyncio.run(seed())


def output(url: str, world: int, *, ticks: int = 3, seed: int = 5) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    simulate(world, ticks, seed, 1800, url, entry_points=[], console=console)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def test_simulate_prints_one_table_per_tick_with_every_npc(tmp_path: Path) -> None:
    url, world = seeded(tmp_path / "a.sqlite3")
    text = output(url, world)
    assert text.count("Tick ") == 3 and "Tick 3: world time 3600 -> 5400 s" in text
    for name in ("Marta the fishmonger", "Old Bram", "Lio the deckhand", "Sera the innkeeper"):
        assert text.count(name) == 3


def test_the_same_seed_on_the_same_data_prints_the_same_output(tmp_path: Path) -> None:
    first = output(*seeded(tmp_path / "a.sqlite3"))
    assert output(*seeded(tmp_path / "b.sqlite3")) == first
    assert output(*seeded(tmp_path / "c.sqlite3"), seed=6) != first


def test_simulate_continues_the_worlds_first_session(tmp_path: Path) -> None:
    url, world = seeded(tmp_path / "a.sqlite3")
    output(url, world, ticks=1)
    assert "Tick 1: world time 1800 -> 3600 s" in output(url, world, ticks=1)


@pytest.mark.parametrize(("world", "ticks", "code"), [(999, 1, 1), (None, 0, 2)])
def test_a_missing_world_or_bad_arguments_exit_with_a_code(
    tmp_path: Path, world: int | None, ticks: int, code: int
) -> None:
    url, real = seeded(tmp_path / "a.sqlite3")
    with pytest.raises(typer.Exit) as exited:
        output(url, world or real, ticks=ticks)
    assert exited.value.exit_code == code


def test_bad_behavior_json_exits_2_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, world = seeded(tmp_path / "a.sqlite3")

    async def break_world() -> None:
        engine = create_engine(url)
        storage = SqlStorage(create_sessionmaker(engine))
        await storage.worlds.update_world(world, meta={"behavior": {"version": 2, "activities": [{"id": "x"}]}})
        await engine.dispose()

    asyncio.run(break_world())
    with pytest.raises(typer.Exit) as exited:
        output(url, world)
    assert exited.value.exit_code == 2
    assert "meta.behavior.activities[0].category" in capsys.readouterr().err

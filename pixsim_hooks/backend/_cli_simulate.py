"""``pixsim-hooks simulate --world W --ticks N --seed S [--seconds T]``: run the behavior engine from the terminal.

Ticks the world's first session (creating one when the world has none) N times, with the installed plugins and
the same event delivery as the server, and prints one table per tick. The same seed on the same data prints the
same tables. Long runs show a progress bar on an interactive terminal (never in pipes, so output stays stable).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pixsim_hooks.backend._cli_common import EXIT_CONFIG, fail, load_settings, shown_url
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._models import GameSession
from pixsim_hooks.backend._services import GameService
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.behavior import DecisionStatus, TickReport, tick
from pixsim_hooks.backend.events import host_publisher
from pixsim_hooks.host import Settings, create_host
from pixsim_hooks.plugin import ConfigError, NotFoundError, StaleWriteError

__all__ = ["PROGRESS_FROM_TICKS", "simulate", "tick_table"]

PROGRESS_FROM_TICKS = 20
_STATUS_STYLE = {
    DecisionStatus.STARTED: "green",
    DecisionStatus.CONTINUED: "cyan",
    DecisionStatus.IDLE: "yellow",
    DecisionStatus.BUSY: "dim",
    DecisionStatus.NOT_DUE: "dim",
    DecisionStatus.DEFERRED: "magenta",
}


def simulate(
    world: int,
    ticks: int,
    seed: int,
    seconds: float = 60.0,
    database_url: str | None = None,
    *,
    plugins: Iterable[object] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    console: Console | None = None,
) -> None:
    """Run ``ticks`` ticks of ``seconds`` each on world ``world``'s first session and print them.

    ``database_url`` overrides ``PIXSIM_DATABASE_URL``; ``plugins`` / ``entry_points`` are for tests (default:
    the installed plugins). Exits 2 on bad arguments or bad world JSON, 1 when the world is missing or the
    database cannot be used.
    """
    if ticks < 1:
        fail("--ticks must be at least 1", code=EXIT_CONFIG)
    if not math.isfinite(seconds) or seconds <= 0:
        fail("--seconds must be a finite number greater than 0", code=EXIT_CONFIG)
    settings = load_settings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    out = console or Console()
    run = _run(settings, world, ticks, seed, seconds, list(plugins), entry_points, out)
    try:
        asyncio.run(run)
    except ConfigError as exc:
        fail(f"world {world} has invalid behavior data: {exc}", code=EXIT_CONFIG)
    except (NotFoundError, StaleWriteError) as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        fail(f"cannot use the database {shown_url(settings.database_url)}: {cause}")


async def _run(
    settings: Settings,
    world_id: int,
    ticks: int,
    seed: int,
    seconds: float,
    plugins: list[object],
    entry_points: Iterable[importlib.metadata.EntryPoint] | None,
    out: Console,
) -> None:
    engine = create_engine(settings.database_url)
    try:
        await create_schema(engine)
        maker = create_sessionmaker(engine)
        storage = SqlStorage(maker)
        host = create_host(settings, storage=storage, plugins=plugins, entry_points=entry_points)
        await host.load()
        try:
            service = GameService(storage, host_publisher(host))
            world = await service.get_world(world_id)
            session_id = await _first_session(maker, world_id) or (await service.create_session(world_id)).id
            out.print(f"World {world.id} {world.name!r}, session {session_id}: {ticks} x {seconds:g} s, seed {seed}")
            with _progress(ticks, out) as progress:
                task = progress.add_task("ticking", total=ticks)
                for number in range(1, ticks + 1):
                    report = await tick(
                        host, storage, session_id, seconds, seed=seed, apply_change=service.apply_change
                    )
                    out.print(tick_table(report, number))
                    progress.advance(task)
        finally:
            await host.shutdown()
    finally:
        await engine.dispose()


async def _first_session(maker: async_sessionmaker[AsyncSession], world_id: int) -> int | None:
    query = select(GameSession.id).where(GameSession.world_id == world_id).order_by(GameSession.id).limit(1)
    async with maker() as db:
        found: int | None = (await db.execute(query)).scalar_one_or_none()
        return found


def _progress(ticks: int, console: Console) -> Progress:
    # Only on a terminal: elapsed times would make piped output differ from run to run.
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=ticks < PROGRESS_FROM_TICKS or not console.is_terminal,
    )


def tick_table(report: TickReport, number: int) -> Table:
    """One tick as a table: NPC, tier, status, activity, score, plugins."""
    title = (
        f"Tick {number}: world time {report.world_time_before:g} -> {report.world_time_after:g} s "
        f"({report.decisions} decided, {report.simulated} simulated)"
    )
    table = Table(title=title, title_justify="left")
    for column in ("NPC", "tier", "status", "activity"):
        table.add_column(column)
    table.add_column("score", justify="right")
    table.add_column("plugins")
    for row in report.rows:
        plugins = ", ".join(row.plugins) + (
            f" [red](failed: {', '.join(row.failed_plugins)})[/]" if row.failed_plugins else ""
        )
        table.add_row(
            f"{row.npc_name} [dim]#{row.npc_id}[/]",
            row.tier,
            f"[{_STATUS_STYLE[row.status]}]{row.status.value}[/]",
            (row.activity_name or "-") + (" [dim](suggested)[/]" if row.suggested else ""),
            "-" if row.score is None else f"{row.score:.3f}",
            plugins or "-",
        )
    return table

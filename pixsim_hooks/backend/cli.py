"""``pixsim-hooks``: serve the reference backend, deliver its events, seed a demo world, inspect and scaffold plugins.

Every command reads its settings from the ``PIXSIM_*`` environment (see the README); the database is
``PIXSIM_DATABASE_URL`` (default: ``./pixsim.sqlite3``). Exit codes: 0 done, 1 the command failed (database
unreachable, a plugin quarantined), 2 bad invocation or settings.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from uvicorn.supervisors import Multiprocess

from pixsim_hooks.backend._cli_common import EXIT_CONFIG, fail, load_settings, shown_url
from pixsim_hooks.backend._cli_new import new_plugin
from pixsim_hooks.backend._cli_plugins import plugins_app
from pixsim_hooks.backend._cli_simulate import simulate
from pixsim_hooks.backend._cli_worker import run_worker
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._demo import DEMO_WORLD_NAME, DemoWorld, find_demo_world, seed_demo_world
from pixsim_hooks.backend._services import GameService
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.host import Settings
from pixsim_hooks.plugin import ConfigError
from pixsim_hooks.telemetry import configure_logging

__all__ = ["app"]

APP_FACTORY = "pixsim_hooks.backend.app:create_app"  # an import string, so that --reload can re-import it
T = TypeVar("T")

app = typer.Typer(
    name="pixsim-hooks",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(plugins_app)
app.command("new-plugin")(new_plugin)


@app.callback()
def main() -> None:
    """The PixSim reference backend and its plugin host. Settings come from PIXSIM_* environment variables."""
    configure_logging(load_settings().log_format)


# -- database access shared by the commands ----------------------------------------------------------------------
@asynccontextmanager
async def _game_service(settings: Settings) -> AsyncIterator[GameService]:
    """The game service on the configured database, with the schema created (a fresh file works)."""
    try:
        engine = create_engine(settings.database_url)
    except (ConfigError, ArgumentError) as exc:
        fail(f"PIXSIM_DATABASE_URL: {exc}", code=EXIT_CONFIG)
    _require_sqlite_directory(engine.url)
    try:
        await create_schema(engine)
        yield GameService(SqlStorage(create_sessionmaker(engine)))
    finally:
        await engine.dispose()


def _require_sqlite_directory(url: URL) -> None:
    # SQLite creates the file but not its directory. Saying so beats the driver's "unable to open database file",
    # and no connection is tried (aiosqlite can report a failed connect after the event loop has closed).
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).parent.is_dir():
        fail(f"the directory of the SQLite database {url.database!r} does not exist")


def _run_on_database(settings: Settings, work: Callable[[GameService], Awaitable[T]]) -> T:
    """Run ``work`` against the game service; a database that cannot be used exits 1 with the cause."""

    async def run() -> T:
        async with _game_service(settings) as service:
            return await work(service)

    try:
        return asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's own message, not SQLAlchemy's SQL dump
        fail(f"cannot use the database {shown_url(settings.database_url)}: {cause}")
    except ModuleNotFoundError as exc:  # e.g. a postgresql URL without the [postgres] extra
        fail(f"PIXSIM_DATABASE_URL needs a driver that is not installed: {exc.name}", code=EXIT_CONFIG)


# -- serve -------------------------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port to listen on (0: any free one).")] = 8000,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Restart when the code changes.")] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo world first (when it is missing) and print what to try.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes on this machine, one socket (more than one needs PIXSIM_REDIS_URL)."
        ),
    ] = 1,
) -> None:
    """Serve the backend over HTTP (uvicorn) with every installed plugin; the API is under /api/v1."""
    settings = load_settings()
    if workers > 1 and settings.redis_url is None:
        fail(
            "--workers needs PIXSIM_REDIS_URL: the workers share the operator's word on each plugin and the admin "
            "sessions through Redis (one process needs none)"
        )
    if workers > 1 and reload:
        fail("--reload serves one process: drop --workers")
    listener = _listen(host, port)  # before anything starts: a taken port is one line, not a traceback later
    _run_on_database(settings, _reachable)  # fail here, clearly, rather than in the server's lifespan
    port = listener.getsockname()[1]
    base = f"http://{host}:{port}/api/v1"
    if demo:
        _show_demo(_run_on_database(settings, _seed_once), base, settings)
    Console(stderr=True).print(f"Serving {base} (docs: /docs) on {shown_url(settings.database_url)}", soft_wrap=True)
    os.environ.setdefault("PIXSIM_GC_FREEZE", "true")  # a long-running server: freeze its start-up heap
    if reload:  # the reloader binds in its own supervisor process
        listener.close()
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, reload=True)
        return
    if workers > 1:  # one listening socket, handed to every worker (each its own host, plugins and children)
        config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, workers=workers)
        Multiprocess(config, sockets=[listener]).run()
        return
    config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port)
    uvicorn.Server(config).run(sockets=[listener])


@app.command()
def worker(
    name: Annotated[
        str | None,
        typer.Option(help="This worker's name in the deployment (default: host name, pid and a random tag)."),
    ] = None,
) -> None:
    """Deliver the deployment's events (PIXSIM_REDIS_URL) to the plugins' event hooks until SIGTERM or Ctrl-C."""
    run_worker(name)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or exit 1 with one line saying why not (a port in use, say)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use; pick another with --port (make run PORT=...)")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    listener.set_inheritable(True)  # uvicorn's reloader and workers may hand it on
    return listener


async def _reachable(service: GameService) -> None:
    await service.list_worlds(limit=1)


# -- seed-demo ---------------------------------------------------------------------------------------------------
@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo world "Demo Harbor": 3 locations, 4 NPCs with behavior preferences and a session.

    Idempotent: when a world named "Demo Harbor" exists it says so and changes nothing (exit 0).
    """
    settings = load_settings()
    _show_demo(_run_on_database(settings, _seed_once), "http://127.0.0.1:8000/api/v1", settings)


@app.command("simulate")
def simulate_command(
    world: Annotated[int, typer.Option("--world", help="World id to simulate (its first session is used).")],
    ticks: Annotated[int, typer.Option("--ticks", min=1, help="How many ticks to run.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="RNG seed: the same seed gives the same run.")] = 0,
    seconds: Annotated[float, typer.Option("--seconds", min=0.001, help="World seconds per tick.")] = 60.0,
) -> None:
    """Run NPC behavior ticks and print a table per tick (NPC, tier, activity, score, plugins that acted)."""
    simulate(world, ticks, seed, seconds, load_settings().database_url)


async def _seed_once(service: GameService) -> DemoWorld | int:
    """The new demo world, or the id of the one already there."""
    existing = await find_demo_world(service)
    if existing is not None:
        return existing.id
    return await seed_demo_world(service)


def _show_demo(seeded: DemoWorld | int, base: str, settings: Settings) -> None:
    console = Console()
    if isinstance(seeded, DemoWorld):
        console.print(demo_table(seeded))
        console.print(_next_steps(seeded, base), soft_wrap=True)  # keep the curl lines whole for copy and paste
    else:
        console.print(
            f"World {DEMO_WORLD_NAME!r} already exists (id {seeded}) in {shown_url(settings.database_url)}; "
            f"nothing to do. Try: curl {base}/worlds/{seeded}",
            soft_wrap=True,
        )


def demo_table(demo: DemoWorld) -> Table:
    table = Table(title=f"Seeded {demo.world.name!r}")
    table.add_column("kind", style="bold")
    table.add_column("id", justify="right")
    table.add_column("name")
    table.add_column("details")
    plugins = ", ".join(demo.world.meta["behavior"]["enabledPlugins"])
    table.add_row("world", str(demo.world.id), demo.world.name, f"enabledPlugins: {plugins}")
    for location in demo.locations:
        table.add_row("location", str(location.id), location.name, str(location.meta.get("locationType", "")))
    for npc in demo.npcs:
        table.add_row("npc", str(npc.id), npc.name, str(npc.meta["behavior"]["routineId"]))
    table.add_row("session", str(demo.session.id), "", f"player at location {demo.session.flags['location_id']}")
    return table


def _next_steps(demo: DemoWorld, base: str) -> str:
    json = "-H 'content-type: application/json' -d"
    npc, session = demo.npcs[0].id, demo.session.id
    return (
        f"Try: curl {base}/worlds/{demo.world.id}\n"
        f"     curl -X POST {base}/plugins/stealth/sessions/{session}/pickpocket {json} "
        f'\'{{"npc_id": {npc}, "skill": 80}}\'\n'
        f"     curl -X POST {base}/sessions/{session}/interactions {json} "
        f'\'{{"npc_id": {npc}, "interaction": "talk"}}\'\n'
        f"     curl {base}/sessions/{session}   # flags: plugin:gossip:heard, counted by the sandboxed gossip plugin"
    )

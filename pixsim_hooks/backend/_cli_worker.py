"""``pixsim-hooks worker [--name NAME]``: deliver the deployment's events to the plugins until stopped.

Needs ``PIXSIM_REDIS_URL`` (the event log) and the deployment's database (a worker confirms each write there and
gives its plugins the same capabilities as a server does). Runs until SIGTERM or Ctrl-C, then finishes the events in
hand and lets go of its lanes, so that the other workers take them over at once.
"""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from pixsim_hooks.backend._cli_common import EXIT_CONFIG, fail, load_settings, shown_url
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.events import event_log
from pixsim_hooks.host import Settings, create_host

__all__ = ["run_worker"]


def run_worker(name: str | None) -> None:
    settings = load_settings()
    if settings.redis_url is None:
        fail("worker needs PIXSIM_REDIS_URL: it delivers the events the servers append to Redis", code=EXIT_CONFIG)
    if not settings.streams_events:
        fail("PIXSIM_EVENTS_DELIVERY=inline: the servers deliver their own events, there is nothing to work on")
    asyncio.run(_work(settings, name))


async def _work(settings: Settings, name: str | None) -> None:
    # Imported here: redis-py (the worker's whole business) is an extra, and every other command runs without it.
    from pixsim_hooks.backend.events import EventWorker, worker_name

    name = name or worker_name()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log = event_log(settings)
    assert log is not None  # checked by the caller
    engine = create_engine(settings.database_url)
    try:
        await create_schema(engine)
        storage = SqlStorage(create_sessionmaker(engine), journal=log)  # a plugin's writes are journaled here too
        host = create_host(settings, storage=storage)
        await host.load()
        try:
            worker = EventWorker(host, storage, log, settings, name=name)
            Console(stderr=True).print(
                f"Worker {name} delivering events to {', '.join(worker.plugins) or 'no plugin'} "
                f"from {settings.events_shards} streams, on {shown_url(settings.database_url)}",
                soft_wrap=True,
            )
            await worker.run(stop)
        finally:
            await host.shutdown()
    finally:
        await engine.dispose()
        await log.close()

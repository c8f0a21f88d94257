"""The deployment's control plane on a real redis-server this bench starts (issue 13).

- ``control.redis.word_propagation`` — from ``disable()`` returning in one host to the plugin being disabled in
  another host joined to the same Redis (two hosts in this process, nothing shared but Redis; the reconcile period
  is an hour, so only the pub/sub message carries it): the median of :data:`TRIALS`, against the local disable
  itself; target: at most 1 s.
- ``control.redis.dispatch`` — an event hook dispatched to 10 plugins in a host joined to Redis, against the same
  in a host of one process: the hot path asks nobody (target: ratio <= 1.1).
- ``workers.2.core_read`` — ``GET /api/v1/worlds`` from ``pixsim-hooks serve --workers 2`` against ``--workers 1``,
  both on Redis and one SQLite file, loaded from this process on the same machine (16 raw keep-alive connections,
  4 s): the time per request at each throughput; target: two workers serve at least 1.7x the requests
  (ratio <= 1/1.7).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._harness import Row, at_most, ratio_at_most
from pixsim_hooks import PluginManifest, SessionCreated, SessionSnapshot, hookimpl
from pixsim_hooks.host import PluginHost, PluginState, Settings, create_host
from tests.redis_server import RedisServer  # the same real server the tests start for themselves

TRIALS = 50
REPEAT, CALLS = 7, 2000


class Listener:
    def __init__(self, index: int) -> None:
        self.manifest = PluginManifest(
            id=f"listener-{index}",
            name="Listener",
            version="1.0.0",
            trust="first_party",
            permissions=("event:subscribe",),
        )

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        return None


async def _host(url: str | None, replica: str, plugins: int) -> PluginHost:
    settings = Settings(redis_url=url, replica_id=replica, control_reconcile_s=3600.0)
    host = create_host(settings, plugins=[Listener(i) for i in range(plugins)], entry_points=[])
    await host.load()
    return host


async def _propagation(url: str) -> tuple[float, float]:
    a, b = await _host(url, "a", 1), await _host(url, "b", 1)
    took, local = [], []
    try:
        for _ in range(TRIALS):
            start = time.perf_counter_ns()
            await a.disable("listener-0")
            local.append(time.perf_counter_ns() - start)
            await _until(lambda: b.plugin("listener-0").state is PluginState.DISABLED)
            took.append(time.perf_counter_ns() - start)
            await a.enable("listener-0")
            await _until(lambda: b.plugin("listener-0").state is PluginState.ENABLED)
    finally:
        await a.shutdown()
        await b.shutdown()
    return statistics.median(took), statistics.median(local)


async def _until(check: Callable[[], bool]) -> None:
    """A loop turn at a time until ``check`` holds (the word arrives on the loop's own pub/sub reader)."""
    while True:
        if check():
            return
        await asyncio.sleep(0)


async def _dispatch(url: str) -> tuple[float, float]:
    event = SessionCreated(1, SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1))
    joined, alone = await _host(url, "joined", 10), await _host(None, "alone", 10)
    try:
        measured, baseline = [], []
        for _ in range(REPEAT):  # interleaved, so that load on the machine weighs on both alike
            measured.append(await _per_call(joined, event))
            baseline.append(await _per_call(alone, event))
    finally:
        await joined.shutdown()
        await alone.shutdown()
    return min(measured), min(baseline)


async def _per_call(host: PluginHost, event: SessionCreated) -> float:
    start = time.perf_counter_ns()
    for _ in range(CALLS):
        await host.hook.on_session_created(event=event)
    return (time.perf_counter_ns() - start) / CALLS


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="pixsim-bench-redis-") as directory, RedisServer(Path(directory)) as server:
        took, local = asyncio.run(_propagation(server.url))
        joined, alone = asyncio.run(_dispatch(server.url))
    return [
        Row("control.redis.word_propagation", took, "the disable in the process that took it", local, at_most(1e9)),
        Row("control.redis.dispatch", joined, "the same host with no Redis", alone, ratio_at_most(1.1)),
        *workers_rows(),
    ]


# -- serve --workers: one socket, N processes -----------------------------------------------------------------------
LOAD_S, CONCURRENCY, PER_CONNECTION = 4.0, 16, 100


async def _throughput(base: str) -> float:
    """Requests per second :data:`CONCURRENCY` keep-alive connections get from ``GET /worlds`` (a core read route:
    the store, no plugin) over :data:`LOAD_S` seconds, after a warm-up.

    The load generator shares the machine's cores with the workers it measures, so it is as cheap as can be: raw
    HTTP/1.1 on asyncio streams (an HTTP client library costs several times the bytes' worth per request, and would
    take that from the server). Each connection is opened again after :data:`PER_CONNECTION` requests, so that the
    workers' shared socket deals them out afresh rather than leaving one worker the lion's share for the whole run."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    request = f"GET {url.path}/worlds HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    async def connection(until: float) -> int:
        done = 0
        while time.perf_counter() < until:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                for _ in range(PER_CONNECTION):
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 200 "):
                        raise RuntimeError(f"GET /worlds answered {head[:40]!r}")
                    length = next(
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                    await reader.readexactly(length)
                    done += 1
                    if time.perf_counter() >= until:
                        break
            finally:
                writer.close()
                await writer.wait_closed()
        return done

    await asyncio.gather(*(connection(time.perf_counter() + 0.5) for _ in range(CONCURRENCY)))  # every worker warm
    start = time.perf_counter()
    counts = await asyncio.gather(*(connection(start + LOAD_S) for _ in range(CONCURRENCY)))
    return sum(counts) / (time.perf_counter() - start)


def _served(workers: int, redis_url: str, directory: Path) -> float:
    """Start ``pixsim-hooks serve --workers N`` on a free port, measure, stop it."""
    import os
    import re
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "PIXSIM_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}",
        "PIXSIM_REDIS_URL": redis_url,
        "PIXSIM_PLUGINS_ALLOW": "audit",
        "PIXSIM_LOG_FORMAT": "json",
    }
    command = [str(Path(sys.executable).parent / "pixsim-hooks"), "serve", "--port", "0", "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert process.stderr is not None
        base, started = "", 0
        for line in process.stderr:
            if match := re.match(r"^Serving (http://127\.0\.0\.1:\d+/api/v1) ", line):
                base = match.group(1)
            started += "Application startup complete" in line
            if base and started == workers:
                break
        import threading

        threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its log flowing
        return _run(_throughput(base))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _run(work: Any) -> float:
    """On uvloop when it is installed (as the workers run), else asyncio's own loop: the cheaper client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)  # type: ignore[no-any-return]
    return uvloop.run(work)  # type: ignore[no-any-return]


def workers_rows() -> list[Row]:
    with (
        tempfile.TemporaryDirectory(prefix="pixsim-bench-workers-") as directory,
        RedisServer(Path(directory)) as server,
    ):
        one = _served(1, server.url, Path(directory))
        two = _served(2, server.url, Path(directory))
    # Rows hold times: the time per request at each throughput (a higher throughput is a lower time).
    note = f"{one:.0f} req/s with one worker, {two:.0f} with two (the load generator shares the machine's 2 cores)"
    return [Row("workers.2.core_read", 1e9 / two, "one worker", 1e9 / one, ratio_at_most(1 / 1.7), note)]

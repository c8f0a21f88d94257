"""The deployment's event log: ``pixsim-hooks worker`` processes delivering Redis Streams to plugins.

Real processes only: ``pixsim-hooks serve`` and ``pixsim-hooks worker`` started here, a real redis-server, one
SQLite file, real HTTP. The plugins are this module's :class:`Sink` and :class:`Sleeper`, installed into the child
processes through a ``*.dist-info`` (entry points under ``pixsim_hooks.plugins``) this bench writes in a temporary
directory, allowed and trusted in-process; ``PIXSIM_EVENTS_LEASE_S=1``, ``PIXSIM_HOOK_DEADLINE_MS=5000``.

- ``events.throughput.2_workers`` — events delivered per second to ``bench-sink`` (a no-op ``on_session_updated``)
  by two workers, against one worker: the time per event at each rate (a higher rate is a lower time). Each round
  fills the streams while no worker runs — a server creates a world and :data:`SESSIONS` sessions and makes
  :data:`WRITES` ``PATCH /sessions/{id}/flags`` spread over them (one ``SessionUpdated`` each, plus one
  ``SessionCreated`` per session, which the sink does not handle and its group acknowledges all the same), then
  stops — and then starts the workers. The clock starts once every worker has printed its ``Worker ... delivering``
  line (its host loaded: start-up is kept out) and stops at the first poll (every :data:`POLL_S`) that finds the
  ``bench-sink`` group on all :data:`SHARDS` streams with nothing pending and nothing unread (``XINFO GROUPS``:
  ``pending`` 0, ``lag`` 0). The events counted are those the group acknowledged in between (``entries-read`` less
  ``pending``): what a first worker acknowledged while a second was still starting is not counted, and the time the
  two take to split the lanes between them (leases) is in the figure. One worker first, then two on a fresh fill of
  the same size. No target: the figure is what it is on this machine (the workers share its cores with
  redis-server and the poller); the note gives both rates and how the two workers split the events.
- ``events.latency.p50`` / ``events.latency.p99`` — the response time (median; 99th percentile) of
  ``PATCH /sessions/{id}/flags`` when ``bench-sleeper``'s ``on_session_updated`` sleeps :data:`HANDLER_S` (100 ms):
  with ``PIXSIM_REDIS_URL`` and one worker running (measured), against the same request with the handler inline (a
  server without Redis: the request waits for its handlers). :data:`REQUESTS` sequential requests on one session,
  one connection, after :data:`WARMUP`; target: at most 50 ms (the handler's 100 ms is no longer in the response).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._harness import Row, at_most
from pixsim_hooks import PluginManifest, hookimpl

ROOT = Path(__file__).resolve().parents[1]  # the checkout: the children import bench.bench_events from it
CLI = str(Path(sys.executable).parent / "pixsim-hooks")
SHARDS = 8  # PIXSIM_EVENTS_SHARDS's default: the streams are pixsim:v1:events:s:0..7
STREAMS = [f"pixsim:v1:events:s:{n}" for n in range(SHARDS)]
SESSIONS, WRITES, FILL_CONCURRENCY = 64, 2000, 8
HANDLER_S = 0.1
POLL_S = 0.02  # how often the throughput rounds ask Redis whether every event is acknowledged
WARMUP, REQUESTS = 10, 200
START_TIMEOUT_S, DRAIN_TIMEOUT_S, STOP_TIMEOUT_S = 60.0, 60.0, 30.0
SERVING = re.compile(r"^Serving (http://127\.0\.0\.1:\d+/api/v1) ")
STARTED = re.compile(r"Application startup complete")
DELIVERING = re.compile(r"^Worker \S+ delivering events to ")
STOPPED = re.compile(r'^\{.*"event": "event worker stopped"')


class Sink:
    """Handles every ``SessionUpdated`` by doing nothing: what is timed is the worker's work around it."""

    manifest = PluginManifest(
        id="bench-sink", name="Bench sink", version="1.0.0", trust="first_party", permissions=("event:subscribe",)
    )

    @hookimpl
    def on_session_updated(self, ctx: Any, event: Any) -> None:
        return None


class Sleeper:
    """Takes :data:`HANDLER_S` over every ``SessionUpdated``: a handler slow enough to see in a response time."""

    manifest = PluginManifest(
        id="bench-sleeper",
        name="Bench sleeper",
        version="1.0.0",
        trust="first_party",
        permissions=("event:subscribe",),
    )

    @hookimpl
    async def on_session_updated(self, ctx: Any, event: Any) -> None:
        await asyncio.sleep(HANDLER_S)


# -- child processes ------------------------------------------------------------------------------------------------
class _Child:
    """One ``pixsim-hooks`` process; its stderr read line by line in a thread (so it never blocks), each line kept
    with the time it arrived."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [CLI, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: list[tuple[float, str]] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                with self._changed:
                    self._lines.append((time.perf_counter(), line))
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float = START_TIMEOUT_S) -> tuple[float, re.Match[str]]:
        """The first stderr line matching ``pattern``: when it arrived, and the match (waiting for it)."""
        end, seen = time.monotonic() + timeout, 0
        with self._changed:
            while True:
                for at, line in self._lines[seen:]:
                    if match := pattern.search(line):
                        return at, match
                seen = len(self._lines)
                left = end - time.monotonic()
                if self._ended or left <= 0:
                    why = "exited" if self._ended else f"is still running after {timeout:g} s"
                    raise RuntimeError(f"pixsim-hooks {' '.join(self.args)} {why} before {pattern.pattern!r}:\n{self}")
                self._changed.wait(left)

    def __str__(self) -> str:
        with self._changed:
            return "".join(line for _, line in self._lines[-30:])

    def stop(self) -> None:
        """SIGINT, then wait (a kill after :data:`STOP_TIMEOUT_S`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)


def _stop_all(children: list[_Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGINT)  # all at once: they stop side by side
    for child in children:
        child.stop()


def _install(directory: Path) -> Path:
    """A site dir with this module's plugins installed (a dist-info with their entry points)."""
    site = directory / "site"
    info = site / "bench_events-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-events\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pixsim_hooks.plugins]\nbench-sink = bench.bench_events:Sink\nbench-sleeper = bench.bench_events:Sleeper\n"
    )
    return site


def _env(directory: Path, plugin: str, redis_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_install(directory)), str(ROOT)]),
        "PIXSIM_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}",
        "PIXSIM_PLUGINS_ALLOW": plugin,
        "PIXSIM_PLUGINS_TRUSTED": plugin,
        "PIXSIM_LOG_FORMAT": "json",
        "PIXSIM_EVENTS_LEASE_S": "1",
        "PIXSIM_HOOK_DEADLINE_MS": "5000",
        "COLUMNS": "400",
    }
    env.pop("PIXSIM_REDIS_URL", None)
    if redis_url is not None:
        env["PIXSIM_REDIS_URL"] = redis_url
    return env


def _serve(env: dict[str, str], cwd: Path) -> tuple[_Child, str]:
    """A ``pixsim-hooks serve`` on a free port, up and answering: the process and its API's base URL."""
    server = _Child(["serve", "--port", "0"], env, cwd)
    try:
        _, match = server.wait_for(SERVING)
        server.wait_for(STARTED)
    except BaseException:
        server.stop()
        raise
    return server, match.group(1)


# -- throughput -----------------------------------------------------------------------------------------------------
async def _fill(base: str) -> None:
    """A world, :data:`SESSIONS` sessions, then :data:`WRITES` flag writes spread over them."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        world = (await client.post("/worlds", json={"name": f"Bench {time.time_ns()}"})).raise_for_status().json()
        ids = []
        for _ in range(SESSIONS):
            answer = await client.post("/sessions", json={"world_id": world["id"]})
            ids.append(answer.raise_for_status().json()["id"])

        async def writer(first: int) -> None:
            for i in range(first, WRITES, FILL_CONCURRENCY):
                (await client.patch(f"/sessions/{ids[i % SESSIONS]}/flags", json={"n": i})).raise_for_status()

        await asyncio.gather(*(writer(k) for k in range(FILL_CONCURRENCY)))


def _groups(redis: Any, group: str) -> list[dict[str, Any]]:
    """Per stream: the group's ``XINFO GROUPS`` entry, with the stream's ``last-generated-id`` beside it."""
    pipe = redis.pipeline(transaction=False)
    for stream in STREAMS:
        pipe.xinfo_groups(stream)
        pipe.xinfo_stream(stream)
    answers = pipe.execute()
    found = []
    for stream, groups, info in zip(STREAMS, answers[::2], answers[1::2], strict=True):
        mine = [g for g in groups if g["name"] == group]
        if not mine:
            raise RuntimeError(f"no consumer group {group!r} on {stream}: {groups}")
        found.append({**mine[0], "stream": stream, "last-generated-id": info["last-generated-id"]})
    return found


def _acked(groups: list[dict[str, Any]]) -> int:
    return sum(int(g["entries-read"] or 0) - int(g["pending"]) for g in groups)


def _done(groups: list[dict[str, Any]]) -> bool:
    """Every event acknowledged: nothing pending, nothing unread (``lag`` 0; should Redis not know the lag, the
    group's last delivered id is the stream's last)."""
    return all(
        int(g["pending"]) == 0
        and (g["lag"] == 0 if g["lag"] is not None else g["last-delivered-id"] == g["last-generated-id"])
        for g in groups
    )


def _round(env: dict[str, str], cwd: Path, redis: Any, workers: int) -> tuple[float, int, list[int | None]]:
    """Fill the streams with no worker running, then deliver them with ``workers``: events per second, the events
    counted, and how many each worker delivered to the sink (its own count, logged as it stops)."""
    server, base = _serve(env, cwd)
    try:
        asyncio.run(_fill(base))
    finally:
        server.stop()
    if _done(_groups(redis, "bench-sink")):
        raise RuntimeError("the writes put no event in the streams: were they delivered inline?")
    children: list[_Child] = []
    try:
        for k in range(workers):
            children.append(_Child(["worker", "--name", f"bench-{workers}-{k}"], env, cwd))
        for child in children:
            child.wait_for(DELIVERING)
        before, start = _acked(_groups(redis, "bench-sink")), time.perf_counter()
        end = start + DRAIN_TIMEOUT_S
        while not _done(groups := _groups(redis, "bench-sink")):
            exited = any(c.process.poll() is not None for c in children)
            if exited or time.perf_counter() > end:
                why = "a worker exited" if exited else f"after {DRAIN_TIMEOUT_S:g} s"
                states = "\n".join(f"  {g}" for g in groups)
                logs = "\n".join(f"-- worker {c.args[-1]} (exit {c.process.poll()}):\n{c}" for c in children)
                raise RuntimeError(f"events not all acknowledged ({why}):\n{states}\n{logs}")
            time.sleep(POLL_S)
        took = time.perf_counter() - start
    finally:
        _stop_all(children)
    events = _acked(groups) - before
    return events / took, events, [_delivered(child) for child in children]


def _delivered(worker: _Child) -> int | None:
    """How many events a stopped worker says it delivered to the sink (its "event worker stopped" log line)."""
    try:
        said = json.loads(worker.wait_for(STOPPED, timeout=0)[1].string)
    except (RuntimeError, ValueError):
        return None
    count = said.get("bench-sink:delivered", said.get("delivered"))
    return count if isinstance(count, int) else None


def throughput_rows() -> list[Row]:
    import redis as redis_py

    from tests.redis_server import RedisServer  # the same real server the tests start for themselves

    with (
        tempfile.TemporaryDirectory(prefix="pixsim-bench-events-") as name,
        RedisServer(Path(name)) as server,
    ):
        directory = Path(name)
        env = _env(directory, "bench-sink", server.url)
        redis = redis_py.Redis.from_url(server.url, decode_responses=True)
        try:
            one, counted_one, _ = _round(env, directory, redis, 1)
            two, counted_two, shares = _round(env, directory, redis, 2)
        finally:
            redis.close()
    split = "" if None in shares else f"the two delivered {' + '.join(map(str, shares))} of its {WRITES} updates; "
    note = (
        f"{one:.0f} events/s with one worker, {two:.0f} with two ({counted_one} and {counted_two} events counted; "
        f"{split}{SHARDS} streams; the machine's {os.cpu_count()} cores shared with redis-server and the poller)"
    )
    return [Row("events.throughput.2_workers", 1e9 / two, "one worker", 1e9 / one, None, note)]


# -- latency --------------------------------------------------------------------------------------------------------
def _response_times(base: str) -> list[float]:
    """:data:`REQUESTS` sequential flag writes to one session (after :data:`WARMUP`), each timed in ns."""
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        world = client.post("/worlds", json={"name": "Bench"}).raise_for_status().json()
        session = client.post("/sessions", json={"world_id": world["id"]}).raise_for_status().json()
        took: list[float] = []
        for i in range(WARMUP + REQUESTS):
            start = time.perf_counter_ns()
            client.patch(f"/sessions/{session['id']}/flags", json={"n": i}).raise_for_status()
            took.append(time.perf_counter_ns() - start)
    return took[WARMUP:]


def _latency(redis_url: str | None) -> tuple[list[float], int]:
    """Response times from a server (and, with Redis, one worker): the times, and the events the worker delivered
    meanwhile (0 inline)."""
    with tempfile.TemporaryDirectory(prefix="pixsim-bench-latency-") as name:
        directory = Path(name)
        env = _env(directory, "bench-sleeper", redis_url)
        children: list[_Child] = []
        try:
            server, base = _serve(env, directory)
            children.append(server)
            if redis_url is not None:
                children.append(worker := _Child(["worker"], env, directory))
                worker.wait_for(DELIVERING)
            took = _response_times(base)
            delivered = 0
            if redis_url is not None:
                import redis as redis_py

                with redis_py.Redis.from_url(redis_url, decode_responses=True) as redis:
                    delivered = _acked(_groups(redis, "bench-sleeper"))
        finally:
            _stop_all(children)
    return took, delivered


def latency_rows() -> list[Row]:
    from tests.redis_server import RedisServer

    inline, _ = _latency(None)
    with tempfile.TemporaryDirectory(prefix="pixsim-bench-redis-") as name, RedisServer(Path(name)) as server:
        streamed, delivered = _latency(server.url)
    note = (
        f"{REQUESTS} sequential requests; the handler sleeps {HANDLER_S * 1000:g} ms; the worker had delivered "
        f"{delivered} of the {WARMUP + REQUESTS + 1} events by the last response"
    )
    baseline, target = "the same request with the handler inline", at_most(50e6)
    return [
        Row("events.latency.p50", statistics.median(streamed), baseline, statistics.median(inline), target, note),
        Row("events.latency.p99", _p99(streamed), baseline, _p99(inline), target, note),
    ]


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def run() -> list[Row]:
    return [*throughput_rows(), *latency_rows()]

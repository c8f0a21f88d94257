"""The control plane on Redis (``PIXSIM_REDIS_URL``): one hash of plugin words, one pub/sub channel, one hash of
replica reports.

- ``<prefix>:plugins`` — plugin id → :class:`~pixsim_hooks.host._control.SharedWord` (JSON). Last write wins.
- ``<prefix>:control`` — a channel; each message names a plugin whose word changed. A message only says *look*:
  the process reads the word from the hash, so a message lost, duplicated or out of order changes nothing.
- ``<prefix>:replicas`` — replica id → its last report (its plugins' states, whether it reaches Redis, when).
- ``<prefix>:failures:<plugin>`` — a stream of the plugin's failures in every process (:class:`SharedFailure`),
  the newest :data:`FAILURES_KEPT`: each process adds its own (queued, written in the background: recording a failure
  never waits on Redis) and reads the deployment's health window from it.
- ``<prefix>:breaker:<plugin>:<world>`` — replica id → when its breaker for that plugin and world opened (its vote),
  expiring after one cooldown. A vote is announced on the channel too; every process counts the votes of the
  processes alive (reported within three reconcile periods) and opens its own breaker once they reach the quorum
  (a majority, never fewer than two): a plugin failing everywhere is taken out everywhere, one process's trouble
  stays its own.

A word is written and announced in one ``MULTI``. Each process also reads the whole hash every ``reconcile_s``
seconds (a message missed while it was disconnected is caught up then, and at once on reconnect) and reports
itself. Redis unreachable: the process keeps serving with its last known words, says so (``connected``, the log),
keeps the words it could not publish and publishes them when Redis is back.

Imported only when ``PIXSIM_REDIS_URL`` is set: redis-py is an optional dependency (``pixsim-hooks[redis]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from pixsim_hooks.host._control import (
    Apply,
    Deployment,
    OpenBreaker,
    ReplicaView,
    Report,
    SharedFailure,
    SharedWord,
    quorum,
    replica_view,
    report_json,
    reported_lately,
)

__all__ = ["RedisControlPlane"]

_log = structlog.get_logger("pixsim_hooks.control")
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
MAX_BACKOFF_S = 5.0
CLOSE_TIMEOUT_S = 5.0
FAILURES_KEPT = 1000  # per plugin, in the shared stream (the health window reads within it)
FAILURES_QUEUED = 1000  # failures of this process waiting for Redis; beyond that the oldest are not shared
FAILURES_TTL_S = 24 * 3600  # a plugin that has not failed for a day has no shared failure left
CLOCK_SLACK_S = 60.0  # how far the processes' clocks may disagree with Redis's when the window is read


class RedisControlPlane:
    """A deployment's plugin words on Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        replica: str,
        reconcile_s: float = 5.0,
        breaker_cooldown_s: float = 30.0,
        prefix: str = "pixsim:v1",
    ) -> None:
        self.replica = replica
        self.reconcile_s = reconcile_s
        self.breaker_cooldown_s = breaker_cooldown_s
        self._breakers_prefix = f"{prefix}:breaker:"
        self._redis = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0)
        self._words_key, self._channel, self._replicas_key = (
            f"{prefix}:plugins",
            f"{prefix}:control",
            f"{prefix}:replicas",
        )
        self._apply: Apply | None = None
        self._open_breaker: OpenBreaker | None = None
        self._report: Report = lambda: ({}, {})
        self._seen: dict[str, str] = {}  # plugin id -> the raw word last applied here
        self._pending: dict[str, SharedWord] = {}  # words published here while Redis was unreachable
        self._task: asyncio.Task[None] | None = None
        self._failures_prefix = f"{prefix}:failures:"
        self._failures_out: deque[tuple[str, SharedFailure]] = deque(maxlen=FAILURES_QUEUED)
        self._failures_ready = asyncio.Event()
        self._sharer: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = False
        self.last_error: str | None = None

    # -- joining and leaving ------------------------------------------------------------------------------------------
    async def start(self, apply: Apply, report: Report, open_breaker: OpenBreaker) -> None:
        self._apply, self._report, self._open_breaker = apply, report, open_breaker
        try:
            await self._reconcile()  # before serving: a new process starts with the deployment's words
            await self._heartbeat()
            self._mark(True)
        except _FAILURES as exc:
            self._mark(False, exc)
        self._task = asyncio.get_running_loop().create_task(self._listen())
        self._sharer = asyncio.get_running_loop().create_task(self._share_failures())

    async def close(self) -> None:
        self._closing = True
        for task in (self._task, self._sharer):
            if task is not None:
                task.cancel()
                # Bounded: redis-py can turn a cancellation that meets one of its own timeouts into a TimeoutError,
                # which the loop takes for Redis being away; the flag ends the loop then, this wait is the backstop.
                await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
        with contextlib.suppress(*_FAILURES):
            await self._redis.hdel(self._replicas_key, self.replica)
        await self._redis.aclose()

    # -- publishing ---------------------------------------------------------------------------------------------------
    async def publish(self, plugin_id: str, word: SharedWord) -> bool:
        try:
            await self._write(plugin_id, word)
        except _FAILURES as exc:
            self._pending[plugin_id] = word  # the latest word per plugin: an older one would be overtaken anyway
            self._mark(False, exc)
            return False
        self._seen[plugin_id] = word.dumps()  # in force here already: hearing it back applies nothing
        await self._report_quietly()
        return True

    async def _write(self, plugin_id: str, word: SharedWord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._words_key, plugin_id, word.dumps())
            pipe.publish(self._channel, json.dumps({"plugin": plugin_id, "by": self.replica}))
            await pipe.execute()

    # -- breakers ----------------------------------------------------------------------------------------------
    async def vote_breaker(self, plugin_id: str, world_id: int) -> None:
        key = f"{self._breakers_prefix}{plugin_id}:{world_id}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, self.replica, str(time.time()))
                pipe.pexpire(key, max(1, int(self.breaker_cooldown_s * 1000)))
                pipe.publish(self._channel, json.dumps({"breaker": [plugin_id, world_id], "by": self.replica}))
                await pipe.execute()
        except _FAILURES as exc:  # this process's breaker is open all the same; the vote is lost with Redis
            self._mark(False, exc)
            return
        await self._report_quietly()  # the failures that opened it, in this process's report

    async def clear_breakers(self, plugin_id: str) -> None:
        with contextlib.suppress(*_FAILURES):
            keys = [key async for key in self._redis.scan_iter(match=f"{self._breakers_prefix}{plugin_id}:*")]
            if keys:
                await self._redis.delete(*keys)

    async def _count_votes(self, key: str) -> None:
        """Open the breaker of ``key`` here when the processes alive that voted for it reach the quorum."""
        plugin_id, _, world = key.removeprefix(self._breakers_prefix).rpartition(":")
        if not plugin_id or not world.isdigit() or self._open_breaker is None:
            return
        now = time.time()
        votes = {_text(r): float(_text(at)) for r, at in (await self._redis.hgetall(key)).items() if _number(at)}
        alive = {view.replica for view in await self._replicas() if reported_lately(view, self.reconcile_s, now)}
        counted = [r for r, at in votes.items() if r in alive and now - at <= self.breaker_cooldown_s]
        if len(counted) >= quorum(len(alive)):
            self._open_breaker(plugin_id, int(world))

    async def _count_all_votes(self) -> None:
        async for key in self._redis.scan_iter(match=f"{self._breakers_prefix}*"):
            await self._count_votes(_text(key))

    async def _replicas(self) -> list[ReplicaView]:
        raw = await self._redis.hgetall(self._replicas_key)
        return [view for value in raw.values() if (view := replica_view(_text(value))) is not None]

    async def _flush_pending(self) -> None:
        while self._pending:
            plugin_id, word = next(iter(self._pending.items()))
            await self._write(plugin_id, word)
            self._seen[plugin_id] = word.dumps()
            del self._pending[plugin_id]

    # -- the deployment's health window ---------------------------------------------------------------------------
    def share_failure(self, plugin_id: str, failure: SharedFailure) -> None:
        self._failures_out.append((plugin_id, failure))
        self._failures_ready.set()

    async def _share_failures(self) -> None:
        """Write the queued failures, in order, in one pipeline per wake-up; kept (and retried) while Redis is away."""
        backoff = 0.1
        while not self._closing:
            await self._failures_ready.wait()
            self._failures_ready.clear()
            batch = list(self._failures_out)
            self._failures_out.clear()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for plugin_id, failure in batch:
                        key = self._failures_prefix + plugin_id
                        pipe.xadd(key, {"f": failure.dumps()}, maxlen=FAILURES_KEPT, approximate=True)
                        pipe.expire(key, FAILURES_TTL_S)
                    await pipe.execute()
                backoff = 0.1
            except _FAILURES as exc:
                if self._closing:
                    return
                self._failures_out.extendleft(reversed(batch))  # before what came meanwhile; the oldest go first
                self._mark(False, exc)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                self._failures_ready.set()

    async def failures(self, plugin_ids: Sequence[str], since: float) -> dict[str, list[SharedFailure]] | None:
        # Entry ids carry Redis's clock, the failures their process's: read with slack, then keep by the latter.
        first = f"{max(0, int((since - CLOCK_SLACK_S) * 1000))}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for plugin_id in plugin_ids:
                    pipe.xrange(self._failures_prefix + plugin_id, min=first, max="+", count=FAILURES_KEPT)
                answers = await pipe.execute()
        except _FAILURES as exc:
            self._mark(False, exc)
            return None
        found: dict[str, list[SharedFailure]] = {}
        for plugin_id, entries in zip(plugin_ids, answers, strict=True):
            shared = (SharedFailure.loads(_text(fields.get("f", ""))) for _, fields in entries)
            found[plugin_id] = sorted((f for f in shared if f is not None and f.at >= since), key=lambda f: f.at)
        return found

    # -- listening ------------------------------------------------------------------------------------------------
    async def _listen(self) -> None:
        backoff = 0.1
        while not self._closing:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._flush_pending()
                    await self._reconcile()  # what was said while this process was not listening
                    await self._heartbeat()
                    self._mark(True)
                    backoff = 0.1
                    await self._follow(pubsub)
            except _FAILURES as exc:
                if self._closing:
                    return
                self._mark(False, exc)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _follow(self, pubsub: aioredis.client.PubSub) -> None:
        due = time.monotonic() + self.reconcile_s
        while not self._closing:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=max(0.0, due - time.monotonic()))
            if message is not None and message.get("type") == "message":
                plugin_id, breaker = _named(message.get("data"))
                if plugin_id is not None:
                    await self._look(plugin_id)
                elif breaker is not None:
                    await self._count_votes(f"{self._breakers_prefix}{breaker[0]}:{breaker[1]}")
            if time.monotonic() >= due:
                await self._reconcile()
                await self._heartbeat()
                due = time.monotonic() + self.reconcile_s

    async def _look(self, plugin_id: str) -> None:
        raw = await self._redis.hget(self._words_key, plugin_id)
        if raw is not None:
            await self._take(plugin_id, _text(raw))

    async def _reconcile(self) -> None:
        for plugin_id, raw in (await self._redis.hgetall(self._words_key)).items():
            await self._take(_text(plugin_id), _text(raw))
        await self._count_all_votes()

    async def _take(self, plugin_id: str, raw: str) -> None:
        if self._seen.get(plugin_id) == raw or plugin_id in self._pending:  # applied already, or ours is newer
            return
        word = SharedWord.loads(raw)
        if word is None or self._apply is None:
            return
        self._seen[plugin_id] = raw
        await self._apply(plugin_id, word)
        await self._report_quietly()  # the deployment sees this process's new view at once

    async def _report_quietly(self) -> None:
        with contextlib.suppress(*_FAILURES):  # the next heartbeat says it, if this one cannot
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        plugins, failing = self._report()
        await self._redis.hset(
            self._replicas_key, self.replica, report_json(self.replica, plugins, failing, time.time())
        )

    def _mark(self, connected: bool, exc: BaseException | None = None) -> None:
        if connected and not self.connected:
            _log.info("control plane connected", replica=self.replica, caught_up=True)
        elif not connected and (self.connected or self.last_error is None):
            _log.warning(
                "control plane unreachable; serving with the last known plugin states",
                replica=self.replica,
                error=f"{type(exc).__name__}: {exc}",
            )
        self.connected = connected
        self.last_error = None if connected else f"{type(exc).__name__}: {exc}"

    # -- the deployment ---------------------------------------------------------------------------------------------
    async def deployment(self) -> Deployment:
        raw_words: dict[str, str]
        raw_replicas: list[str]
        try:
            raw_words = {_text(k): _text(v) for k, v in (await self._redis.hgetall(self._words_key)).items()}
            raw_replicas = [_text(v) for v in (await self._redis.hgetall(self._replicas_key)).values()]
        except _FAILURES as exc:
            self._mark(False, exc)
            raw_words, raw_replicas = dict(self._seen), []  # what this process last applied
        words = {pid: word for pid, raw in raw_words.items() if (word := SharedWord.loads(raw)) is not None}
        now = time.time()
        views = (
            replace(view, alive=reported_lately(view, self.reconcile_s, now))
            for raw in raw_replicas
            if (view := replica_view(raw)) is not None
        )
        replicas = tuple(sorted(views, key=lambda view: view.replica))
        return Deployment(True, self.replica, self.connected, self.last_error, words, replicas)


def _named(data: object) -> tuple[str | None, tuple[str, int] | None]:
    """What a channel message names: a plugin whose word changed, or a (plugin, world) breaker voted for."""
    try:
        message = json.loads(str(data))
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    plugin_id, breaker = message.get("plugin"), message.get("breaker")
    if isinstance(plugin_id, str):
        return plugin_id, None
    if isinstance(breaker, list) and len(breaker) == 2 and isinstance(breaker[0], str) and type(breaker[1]) is int:
        return None, (breaker[0], breaker[1])
    return None, None


def _number(value: bytes | str) -> bool:
    try:
        float(_text(value))
    except ValueError:
        return False
    return True


def _text(value: bytes | str) -> str:
    """What redis-py hands back, as text (the client decodes responses; its types allow bytes)."""
    return value.decode() if isinstance(value, bytes) else value

"""``pixsim-hooks worker``: delivers the event log to the plugins' event hooks, at least once, in order per session.

A worker runs its own plugin host (the same plugins, contexts, permissions, world scoping, breakers and sandboxed
children as a server) and one *lane* per (plugin, stream): the plugin's consumer group on one shard, or on its redrive
stream. A lane delivers only while its worker holds the lane's lease (``SET NX PX``, renewed every third of
``lease_s``), one entry after the other: that one holder per shard is what keeps the events of a session in order
under any number of workers. Workers register themselves and each takes about its share of the lanes (releasing
what it holds beyond it), so two workers split the work.

Per entry: confirm that its write committed (``_log``: the database shows the version, the write is not gone),
call the plugin's impl (:meth:`~pixsim_hooks.host.HookCaller.deliver`), and acknowledge. A failure (or an open
breaker) is retried with exponential backoff, each retry a new delivery in Redis's count (``XCLAIM``); after
``max_attempts`` deliveries the entry becomes a dead letter. A worker killed mid-way leaves its entries pending: the
next holder of the lane claims them all (``XAUTOCLAIM``) before reading on, so they are delivered once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass

import structlog
from redis.exceptions import ResponseError

from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.events._bridge import event_plugins
from pixsim_hooks.backend.events._log import BLOCK_MAX_S, FAILURES, Envelope, RedisEventLog, envelope_of
from pixsim_hooks.host import Delivery, HookCaller, PluginHost, Settings

__all__ = ["EventWorker", "worker_name"]

_log = structlog.get_logger("pixsim_hooks.events")
TRIM_EVERY = 200  # acknowledgements of a lane between two trims of its stream

_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class _Lane:
    plugin_id: str
    stream: str

    @property
    def lease(self) -> str:
        return f"{self.stream}|{self.plugin_id}"


class EventWorker:
    def __init__(
        self, host: PluginHost, storage: SqlStorage, log: RedisEventLog, settings: Settings, *, name: str
    ) -> None:
        self.host, self.storage, self.log, self.name = host, storage, log, name
        self.plugins = event_plugins(host)
        self._lease_ms = max(1, int(settings.events_lease_s * 1000))
        self._tick_s = settings.events_lease_s / 3
        self._max_attempts = settings.events_max_attempts
        self._backoff_s, self._max_backoff_s = settings.events_backoff_s, settings.events_max_backoff_s
        self._horizon_s = settings.events_commit_horizon_s
        self._held: set[str] = set()
        self._fair = 1
        self._workers_key = f"{log.prefix}:workers"
        self._renew = log.redis.register_script(_RENEW)
        self._release = log.redis.register_script(_RELEASE)
        self._lanes = [
            _Lane(plugin, stream) for plugin in self.plugins for stream in (*log.streams(), log.redrive_stream(plugin))
        ]
        # (plugin id, outcome) -> entries: "delivered", "absent" (the plugin takes no part), "dropped" (its write
        # never committed), "dead_lettered".
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self._progress = asyncio.Event()

    async def progressed(self) -> None:
        """Return at the next entry this worker is done with (for whoever watches :attr:`outcomes`)."""
        self._progress.clear()
        await self._progress.wait()

    def _done(self, plugin_id: str, outcome: str) -> None:
        self.outcomes[(plugin_id, outcome)] += 1
        self._progress.set()

    def _lease_key(self, lane: _Lane) -> str:
        return f"{self.log.prefix}:lease:{lane.lease}"

    # -- the worker --------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish the entries in hand, release the leases and return."""
        while not await self._joined():  # Redis may come up after the worker: wait for it, saying so
            await _pause(self._tick_s, stop)
            if stop.is_set():
                return
        _log.info("event worker started", worker=self.name, plugins=self.plugins, lanes=len(self._lanes))
        tasks = [asyncio.create_task(self._lane(lane, stop)) for lane in self._lanes]
        keeper = asyncio.create_task(self._keep_leases_until(stop))
        try:
            await stop.wait()
            _, late = await asyncio.wait(tasks, timeout=self._tick_s * 2 + 5)
            for task in late:  # an entry in hand stays pending: the next holder delivers it again
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(*FAILURES):
                for lane in self._lanes:
                    if lane.lease in self._held:
                        await self._release(keys=[self._lease_key(lane)], args=[self.name])
                await self.log.redis.zrem(self._workers_key, self.name)
            done = {f"{plugin}:{outcome}": n for (plugin, outcome), n in sorted(self.outcomes.items())}
            _log.info("event worker stopped", worker=self.name, **done)

    async def _joined(self) -> bool:
        if not await self.log.ensure_groups(self.plugins):
            return False
        try:
            await self._keep_leases()
        except FAILURES as exc:
            _log.warning("event worker cannot reach Redis", worker=self.name, error=str(exc))
            return False
        return True

    async def _keep_leases_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _pause(self._tick_s, stop)
            try:
                await self._keep_leases()
            except FAILURES as exc:
                _log.warning("event worker cannot reach Redis", worker=self.name, error=str(exc))

    async def _keep_leases(self) -> None:
        """Say this worker is alive, renew what it holds (forgetting what it lost), and work out its share."""
        now = time.time()
        redis = self.log.redis
        await redis.zadd(self._workers_key, {self.name: now})
        # Gone from the count once silent for a lease (three renewals missed), when its leases expire too.
        await redis.zremrangebyscore(self._workers_key, "-inf", now - self._lease_ms / 1000)
        live = max(1, int(await redis.zcard(self._workers_key)))
        self._fair = math.ceil(len(self._lanes) / live)
        for lane in self._lanes:
            if lane.lease in self._held and not await self._renew(
                keys=[self._lease_key(lane)], args=[self.name, self._lease_ms]
            ):
                self._held.discard(lane.lease)

    # -- one lane ----------------------------------------------------------------------------------------------
    async def _lane(self, lane: _Lane, stop: asyncio.Event) -> None:
        """Take the lane when it is free and this worker has less than its share; deliver it; let go of it when
        stopping, when over the share, or when delivering it failed (what was in hand stays pending, for the next
        holder, which may be this worker again)."""
        while not stop.is_set():
            interrupted = False
            try:
                if lane.lease in self._held or await self._take(lane):
                    await self._hold(lane, stop)
            except FAILURES as exc:
                interrupted = True
                _log.warning("event lane interrupted", lane=lane.lease, error=str(exc))
            except ResponseError as exc:
                interrupted = True
                _log.warning("event lane interrupted", lane=lane.lease, error=str(exc))
                if "NOGROUP" in str(exc):  # a Redis that lost its data (restarted without persistence)
                    await self.log.ensure_groups([lane.plugin_id])
            except Exception:  # the database, say: the lane must go on, not die with its lease renewed for ever
                interrupted = True
                _log.exception("event lane failed", lane=lane.lease)
            if lane.lease in self._held and (interrupted or stop.is_set() or len(self._held) > self._fair):
                self._held.discard(lane.lease)
                with contextlib.suppress(*FAILURES):
                    await self._release(keys=[self._lease_key(lane)], args=[self.name])
            if lane.lease not in self._held:  # (still held: the share grew back meanwhile, so deliver on at once)
                await _pause(self._tick_s, stop)

    async def _take(self, lane: _Lane) -> bool:
        if len(self._held) >= self._fair:
            return False
        if not await self.log.redis.set(self._lease_key(lane), self.name, nx=True, px=self._lease_ms):
            return False
        self._held.add(lane.lease)
        return True

    async def _hold(self, lane: _Lane, stop: asyncio.Event) -> None:
        """Deliver the lane while this worker holds it and has no more than its share: first what an earlier holder
        left pending (this holder's now, in order), then new entries."""
        log, group = self.log, lane.plugin_id
        taken_over = await log.claim_pending(lane.stream, group, self.name)
        for entry_id, fields in taken_over:
            if not self._holds(lane, stop):
                return
            delivered = await log.deliveries(lane.stream, group, entry_id)
            await self._entry(lane, entry_id, fields.get("e", ""), delivered, stop)
        acked = 0
        while self._holds(lane, stop) and len(self._held) <= self._fair:
            block_ms = int(min(self._tick_s, BLOCK_MAX_S) * 1000)  # back in time to see its share change
            for entry_id, fields in await log.read_new(lane.stream, group, self.name, count=50, block_ms=block_ms):
                if not self._holds(lane, stop):
                    return
                await self._entry(lane, entry_id, fields.get("e", ""), 1, stop)
                acked += 1
                if acked % TRIM_EVERY == 0:
                    await log.trim(lane.stream)

    def _holds(self, lane: _Lane, stop: asyncio.Event) -> bool:
        return lane.lease in self._held and not stop.is_set()

    # -- one entry ---------------------------------------------------------------------------------------------
    async def _entry(self, lane: _Lane, entry_id: str, raw: str, delivered: int, stop: asyncio.Event) -> None:
        log, group = self.log, lane.plugin_id
        try:
            envelope = envelope_of(raw)
        except (ValueError, KeyError, TypeError) as exc:  # nothing any plugin could handle: kept for the operator
            await log.dead_letter(group, lane.stream, entry_id, raw, 0, f"unreadable entry: {exc}")
            self._done(group, "dead_lettered")
            return
        committed = await self._committed(envelope, stop)
        if committed is None:
            return  # stopping before the database said: still pending, for whoever holds the lane next
        if not committed:
            await log.ack(lane.stream, group, entry_id)
            self._done(group, "dropped")
            return
        attempts = delivered
        while True:
            outcome = await self._deliver(lane.plugin_id, envelope)
            if outcome is Delivery.DELIVERED or outcome is Delivery.ABSENT:
                await log.ack(lane.stream, group, entry_id)
                self._done(group, outcome.value)
                return
            error = "its circuit breaker is open" if outcome is Delivery.BLOCKED else _described(outcome)
            if attempts >= self._max_attempts:
                await log.dead_letter(group, lane.stream, entry_id, raw, attempts, error)
                self._done(group, "dead_lettered")
                _log.warning(
                    "event dead-lettered",
                    plugin_id=group,
                    event_id=envelope.event_id,
                    attempts=attempts,
                    error=error,
                )
                return
            await _pause(min(self._max_backoff_s, self._backoff_s * 2 ** (attempts - 1)), stop)
            if stop.is_set() or lane.lease not in self._held:
                return  # still pending: whoever holds the lane next delivers it again
            await log.redeliver(lane.stream, group, self.name, entry_id)
            attempts += 1

    async def _committed(self, env: Envelope, stop: asyncio.Event) -> bool | None:
        """Whether the write behind ``env`` committed, waiting while the database does not show it yet (None: the
        worker is stopping and the database has not said)."""
        since, delay = time.monotonic(), 0.01
        while not stop.is_set():
            if await self._shown(env.subject, env.world_id, env.version):
                # Asked only after the database: a write that superseded this one marks it gone before its commit.
                if await self.log.gone(env.write_id):
                    _log.info("event dropped: its write never committed", event_id=env.event_id)
                    return False
                return True
            if time.monotonic() - since > self._horizon_s:
                _log.warning("event dropped: its write is not in the database", event_id=env.event_id)
                return False
            await _pause(delay, stop)
            delay = min(1.0, delay * 2)
        return None

    async def _shown(self, subject: str, world_id: int, version: int) -> bool:
        kind, _, ident = subject.partition(":")
        found: int | None
        if kind == "session":
            session = await self.storage.sessions.get_session(int(ident))
            found = None if session is None else session.version
        else:
            found = None if await self.storage.npcs.get_npc(int(ident)) is None else 1
        if found is not None:
            return found >= version
        return await self.log.deleted(subject) or await self.log.deleted(f"world:{world_id}")

    async def _deliver(self, plugin_id: str, env: Envelope) -> Delivery | BaseException:
        world = await self.storage.worlds.get_world(env.world_id)
        scope = self.host.world_scope(env.world_id, world.meta if world is not None else None)
        caller: HookCaller = getattr(self.host.hook, env.hook)
        return await caller.deliver(plugin_id, world=scope, event=env.event)


def _described(exc: Delivery | BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _pause(seconds: float, stop: asyncio.Event) -> None:
    """Wait ``seconds``, or less when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

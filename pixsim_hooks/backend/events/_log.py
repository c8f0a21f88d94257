"""The deployment's event log on Redis Streams (``PIXSIM_REDIS_URL``): appended by every write, read by workers.

Layout (prefix ``pixsim:v1:events``):

- ``:s:<n>`` — ``shards`` streams. An event goes to the shard of its subject (``zlib.crc32``, the same in every
  process), so all events of one session are in one stream, in the order their versions committed.
- ``:note:<subject>`` — the last write appended for a subject: its version, its write id, whether it deleted it.
- ``:gone:<write id>`` — a write that never committed: found out by the next write of its subject (below).
- ``:redrive:<plugin>`` — dead letters given back by the operator, for that plugin alone.
- ``:dead:<plugin>`` — events a plugin failed ``max_attempts`` times: what it failed with, kept until re-driven.
- ``:lease:<stream>|<plugin>``, ``:workers`` — who delivers what (``_worker``).

Each plugin that handles events is a consumer group (named by its id) on every stream. Groups are created at the
stream's end (``$``) by every server and worker when it starts, before a server takes a write: an event appended
after that is kept until every group has it.

**Why an appended event is known to have committed.** A write appends its events, and its note, between its
statement and its commit, while it holds the row (``_journal``), in one script. If the transaction then dies (a
replica killed, a commit refused), the database never shows that version, or shows it from another write. That other
write read the row's version *before* (under the same lock, after the dead one let go), so any note of a higher
version than it found belongs to a write that never committed: the script marks it ``gone`` before appending its own.
A worker therefore delivers an event once the database shows the subject at (at least) its version and — read after
the database, never before — its write is not ``gone``; a subject deleted since counts as shown when its note (or its
world's) says it was deleted. An event whose version the database does not show within ``commit_horizon_s`` was of a
transaction that died with nothing after it: dropped.

Imported only when ``PIXSIM_REDIS_URL`` is set: redis-py is an optional dependency (``pixsim-hooks[redis]``).
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from pixsim_hooks.backend._journal import Note
from pixsim_hooks.runtime import decode_value, encode_value

__all__ = ["BLOCK_MAX_S", "DeadLetter", "Entry", "Envelope", "RedisEventLog", "envelope_of"]

_log = structlog.get_logger("pixsim_hooks.events")
FAILURES = (RedisError, OSError, asyncio.TimeoutError)
NOTE_TTL_S = 7 * 24 * 3600  # a subject unwritten for a week has no event waiting on it any more
MAX_STREAM_LEN = 1_000_000  # the hard bound of one shard: beyond it, the oldest events are lost (logged by XADD's cap)
DOWN_FOR_S = 1.0  # after a failed append, writes do not wait on Redis again for this long (they deliver inline)
BLOCK_MAX_S = 1.0  # the longest a worker's read blocks waiting for new entries

# KEYS: note, stream. ARGV: before, version, write id, deleted (0/1), locked (0/1), ttl, gone prefix, maxlen, events.
# Keys built in the script (gone) are fine on one Redis; a cluster is not supported.
_APPEND = """
if ARGV[5] == '1' then
  local prev = redis.call('HMGET', KEYS[1], 'v', 'w')
  if prev[1] and tonumber(prev[1]) > tonumber(ARGV[1]) and prev[2] ~= ARGV[3] then
    redis.call('SET', ARGV[7] .. prev[2], '1', 'EX', ARGV[6])
  end
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'w', ARGV[3], 'deleted', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
local ids = {}
for i = 9, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'e', ARGV[i])
end
return ids
"""


Entry = tuple[str, dict[str, str]]  # a stream entry: its id and its fields


@dataclass(frozen=True, slots=True)
class Envelope:
    """One appended event: what a worker needs to confirm and deliver it."""

    event_id: str
    subject: str
    version: int
    write_id: str
    hook: str
    world_id: int
    event: object

    @property
    def session_id(self) -> int | None:
        kind, _, ident = self.subject.partition(":")
        return int(ident) if kind == "session" else None


def envelope_of(raw: str) -> Envelope:
    data = json.loads(raw)
    return Envelope(
        event_id=data["id"],
        subject=data["subject"],
        version=int(data["version"]),
        write_id=data["write"],
        hook=data["hook"],
        world_id=int(data["world"]),
        event=decode_value(data["event"]),
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    plugin_id: str
    entry_id: str
    event_id: str
    event_type: str
    world_id: int
    session_id: int | None
    attempts: int
    error: str
    failed_at: float


class RedisEventLog:
    """The event log (see the module docstring): the writers' journal, and the primitives workers and admin use."""

    def __init__(self, url: str, *, hooks: dict[type, str], shards: int = 8, prefix: str = "pixsim:v1:events") -> None:
        self.shards = shards
        self.prefix = prefix
        self._hooks = hooks
        # A short connect timeout: an append waits inside a transaction that holds a row. Any answer within 5 s,
        # above a worker's blocking reads (at most BLOCK_MAX_S).
        self.redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_connect_timeout=0.5, socket_timeout=5.0
        )
        self._append = self.redis.register_script(_APPEND)
        self._down_until = 0.0

    # -- names -----------------------------------------------------------------------------------------------
    def stream(self, shard: int) -> str:
        return f"{self.prefix}:s:{shard}"

    def streams(self) -> list[str]:
        return [self.stream(n) for n in range(self.shards)]

    def shard_of(self, subject: str) -> int:
        return zlib.crc32(subject.encode()) % self.shards

    def redrive_stream(self, plugin_id: str) -> str:
        return f"{self.prefix}:redrive:{plugin_id}"

    def dead_stream(self, plugin_id: str) -> str:
        return f"{self.prefix}:dead:{plugin_id}"

    def _note(self, subject: str) -> str:
        return f"{self.prefix}:note:{subject}"

    # -- the writers' side -------------------------------------------------------------------------------------
    async def record(self, note: Note, events: Sequence[object]) -> bool:
        """Append ``events`` of the write ``note`` (the :class:`~pixsim_hooks.backend._journal.Journal`)."""
        if time.monotonic() < self._down_until:
            return False
        payloads = [self._payload(note, event) for event in events]
        args: list[str | int] = [
            note.before,
            note.version,
            note.write_id,
            int(note.deleted),
            int(note.locked),
            NOTE_TTL_S,
            f"{self.prefix}:gone:",
            MAX_STREAM_LEN,
            *payloads,
        ]
        try:
            await self._append(keys=[self._note(note.subject), self.stream(self.shard_of(note.subject))], args=args)
        except FAILURES as exc:
            self._down_until = time.monotonic() + DOWN_FOR_S
            _log.warning("event log unreachable: events delivered inline", error=str(exc), subject=note.subject)
            return False
        return True

    def _payload(self, note: Note, event: object) -> str:
        return json.dumps(
            {
                "id": event.event_id,  # type: ignore[attr-defined]
                "subject": note.subject,
                "version": note.version,
                "write": note.write_id,
                "type": type(event).__name__,
                "hook": self._hooks[type(event)],
                "world": event.world_id,  # type: ignore[attr-defined]
                "event": encode_value(event),
                "at": time.time(),
            },
            separators=(",", ":"),
        )

    # -- groups ------------------------------------------------------------------------------------------------
    async def ensure_groups(self, plugin_ids: Sequence[str]) -> bool:
        """Every plugin that handles events is a group on every stream (and on its own redrive stream); False (and
        a warning) when Redis cannot be reached."""
        try:
            for plugin_id in plugin_ids:
                for stream in (*self.streams(), self.redrive_stream(plugin_id)):
                    try:
                        await self.redis.xgroup_create(stream, plugin_id, id="$", mkstream=True)
                    except ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
        except FAILURES as exc:
            _log.warning("event log unreachable: the plugins' groups are not ensured", error=str(exc))
            return False
        return True

    # -- consuming (a worker's lane: one group on one stream, one consumer) ------------------------------------------
    async def claim_pending(self, stream: str, group: str, consumer: str) -> list[Entry]:
        """Every entry of ``group`` still pending on ``stream``, whoever had it, taken over by ``consumer`` (each
        counted as one more delivery), in stream order."""
        claimed: list[Entry] = []
        start = "0-0"
        while True:
            answer = await self.redis.xautoclaim(stream, group, consumer, 0, start_id=start, count=100)
            start, entries = cast(tuple[str, list[Entry]], (answer[0], answer[1]))
            claimed += entries
            if start == "0-0":
                return claimed

    async def read_new(self, stream: str, group: str, consumer: str, *, count: int, block_ms: int) -> list[Entry]:
        answer = await self.redis.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
        return cast(list[Entry], answer[0][1]) if answer else []  # type: ignore[index]

    async def deliveries(self, stream: str, group: str, entry_id: str) -> int:
        """How many times ``entry_id`` has been delivered to ``group`` (Redis counts each read and claim)."""
        pending = await self.redis.xpending_range(stream, group, entry_id, entry_id, 1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def redeliver(self, stream: str, group: str, consumer: str, entry_id: str) -> None:
        """Count a retry as a delivery (``XCLAIM`` to the consumer that holds it)."""
        await self.redis.xclaim(stream, group, consumer, 0, [entry_id])

    async def ack(self, stream: str, group: str, entry_id: str) -> None:
        await self.redis.xack(stream, group, entry_id)

    # -- confirming a commit -----------------------------------------------------------------------------------
    async def gone(self, write_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}:gone:{write_id}"))

    async def deleted(self, subject: str) -> bool:
        return await self.redis.hget(self._note(subject), "deleted") == "1"

    # -- dead letters ------------------------------------------------------------------------------------------
    async def dead_letter(
        self, plugin_id: str, stream: str, entry_id: str, raw: str, attempts: int, error: str
    ) -> None:
        """Move an entry the plugin kept failing to its dead letters, and acknowledge it, in one transaction."""
        fields = {"e": raw, "attempts": attempts, "error": error[:2000], "from": f"{stream} {entry_id}"}
        fields["at"] = f"{time.time():.3f}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_stream(plugin_id), fields)  # type: ignore[arg-type]
            pipe.xack(stream, plugin_id, entry_id)
            await pipe.execute()

    async def dead_letters(self, plugin_id: str, *, count: int = 100) -> list[DeadLetter]:
        entries = cast(list[Entry], await self.redis.xrange(self.dead_stream(plugin_id), count=count))
        return [_dead_letter(plugin_id, entry_id, fields) for entry_id, fields in entries]

    async def dead_count(self, plugin_id: str) -> int:
        return int(await self.redis.xlen(self.dead_stream(plugin_id)))

    async def redrive(self, plugin_id: str, entry_id: str) -> DeadLetter | None:
        """Give one dead letter back to its plugin (delivered again, with a fresh count of attempts)."""
        dead = self.dead_stream(plugin_id)
        found = cast(list[Entry], await self.redis.xrange(dead, min=entry_id, max=entry_id, count=1))
        if not found:
            return None
        _, fields = found[0]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.redrive_stream(plugin_id), {"e": fields["e"]})
            pipe.xdel(dead, entry_id)
            _, removed = await pipe.execute()
        return _dead_letter(plugin_id, entry_id, fields) if removed else None

    # -- keeping streams short -----------------------------------------------------------------------------------
    async def trim(self, stream: str) -> None:
        """Drop the entries every group is done with: those below each group's lowest pending entry, or (nothing
        pending) up to its last delivery."""
        groups: list[dict[str, Any]] = await self.redis.xinfo_groups(stream)
        if not groups:
            return
        floors = []
        for group in groups:
            if int(group["pending"]):
                floors.append(_id_key((await self.redis.xpending(stream, group["name"]))["min"]))
            else:
                ms, seq = _id_key(group["last-delivered-id"])
                floors.append((ms, seq + 1))
        ms, seq = min(floors)
        if (ms, seq) > (0, 1):
            await self.redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=False)

    async def close(self) -> None:
        await self.redis.aclose()


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _dead_letter(plugin_id: str, entry_id: str, fields: dict[str, str]) -> DeadLetter:
    data = json.loads(fields["e"])
    kind, _, ident = str(data["subject"]).partition(":")
    return DeadLetter(
        plugin_id=plugin_id,
        entry_id=entry_id,
        event_id=data["id"],
        event_type=str(data["type"]),
        world_id=int(data["world"]),
        session_id=int(ident) if kind == "session" else None,
        attempts=int(fields.get("attempts", 0)),
        error=fields.get("error", ""),
        failed_at=float(fields.get("at", 0.0)),
    )

"""The operator's word on each plugin, shared by every process of a deployment (design decision 11).

A deployment is one or more processes (``serve --workers``, replicas behind a load balancer) over one database. The
operator disables, enables or a process quarantines a plugin in one of them; the word must hold in all. A
:class:`ControlPlane` carries it: :meth:`~ControlPlane.publish` records the word where every process reads it and
tells them; each process applies what it is told to its own host (``apply``), so the hot path never asks anyone: a
hook call reads only the local state, which the control plane keeps current.

:class:`LocalControlPlane` is the one-process default: nothing to share, the host's own state is the deployment's.
With ``PIXSIM_REDIS_URL`` the host uses ``_redis_control.RedisControlPlane`` instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "ControlPlane",
    "Deployment",
    "Failing",
    "LocalControlPlane",
    "MIN_QUORUM",
    "OpenBreaker",
    "ReplicaView",
    "STALE_AFTER_PERIODS",
    "SharedFailure",
    "SharedWord",
    "Word",
    "quorum",
    "replica_view",
    "report_json",
    "reported_lately",
]

Word = Literal["enabled", "disabled", "quarantined"]


@dataclass(frozen=True, slots=True)
class SharedWord:
    """What holds for one plugin across the deployment: the state the operator (or a quarantine) set, why, by which
    process and when (wall time)."""

    state: Word
    reason: str | None = None
    by: str = ""
    at: float = field(default_factory=time.time)

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str) -> SharedWord | None:
        """The word stored as ``raw``, or None when it is not one (written by something else: ignored)."""
        try:
            data = json.loads(raw)
            word = cls(str(data["state"]), data.get("reason"), str(data.get("by", "")), float(data.get("at", 0.0)))  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError):
            return None
        return word if word.state in ("enabled", "disabled", "quarantined") else None


@dataclass(frozen=True, slots=True)
class SharedFailure:
    """One failure of a plugin in one process of the deployment: which process, where, what, in which world, when
    (that process's wall time)."""

    replica: str
    where: str
    outcome: str
    exc_type: str
    message: str
    world_id: int | None
    at: float

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str) -> SharedFailure | None:
        """The failure stored as ``raw``, or None when it is not one."""
        try:
            data = json.loads(raw)
            world = data["world_id"]
            return cls(
                str(data["replica"]),
                str(data["where"]),
                str(data["outcome"]),
                str(data["exc_type"]),
                str(data["message"]),
                None if world is None else int(world),
                float(data["at"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


@dataclass(frozen=True, slots=True)
class Failing:
    """A plugin failing in one process: its failures and calls within that process's health window, and the last
    failure (where, and what was raised)."""

    window_failures: int
    window_calls: int
    last: str


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """One process of the deployment as it last reported itself: its plugins' states, those failing within its
    health window, whether it reaches the shared store, and when it said so (wall time)."""

    replica: str
    plugins: dict[str, str]
    connected: bool
    seen_at: float
    failing: dict[str, Failing] = field(default_factory=dict)
    alive: bool = True  # it reported lately (:func:`reported_lately`), as the deployment was read


@dataclass(frozen=True, slots=True)
class Deployment:
    """The deployment as this process sees it (``GET /api/v1/admin/deployment``)."""

    shared: bool  # False: one process, nothing is shared
    replica: str
    connected: bool
    last_error: str | None
    words: dict[str, SharedWord]
    replicas: tuple[ReplicaView, ...]


Apply = Callable[[str, SharedWord], Awaitable[None]]
"""Makes one shared word hold in this process (the host's: never publishes again)."""
Report = Callable[[], tuple[dict[str, str], dict[str, Failing]]]
"""This process's plugins' states and those failing within its health window, for its replica view."""
OpenBreaker = Callable[[str, int], None]
"""Opens a (plugin, world) breaker in this process because the deployment decided so."""
MIN_QUORUM = 2
"""Processes that must have seen a plugin fail in a world before its breaker opens in all: never one alone."""


STALE_AFTER_PERIODS = 3
"""A process that has not reported for this many reconcile periods is no longer counted as alive."""


def reported_lately(view: ReplicaView, reconcile_s: float, now: float) -> bool:
    """Whether the process reported within :data:`STALE_AFTER_PERIODS` reconcile periods of ``now`` (wall time)."""
    return now - view.seen_at <= STALE_AFTER_PERIODS * reconcile_s


def quorum(alive: int) -> int:
    """Votes that open a shared breaker among ``alive`` processes: a majority, and never fewer than two."""
    return max(MIN_QUORUM, alive // 2 + 1)


class ControlPlane(Protocol):
    """Where a deployment's plugin words live and how each process learns of them."""

    replica: str

    async def start(self, apply: Apply, report: Report, open_breaker: OpenBreaker) -> None:
        """Join: apply the words already recorded (a new process starts with the deployment's state), then keep
        applying each new one as it comes, and open each breaker a quorum voted for. Does not fail when the shared
        store is unreachable: the process serves on with what it knows and catches up when the store is back."""

    async def publish(self, plugin_id: str, word: SharedWord) -> bool:
        """Record ``word`` for every process and tell them; False when it could not be shared yet (it is kept and
        shared once the store is reachable again)."""

    async def vote_breaker(self, plugin_id: str, world_id: int) -> None:
        """This process's breaker for (plugin, world) opened: its vote, kept for one cooldown."""

    async def clear_breakers(self, plugin_id: str) -> None:
        """Forget every vote on the plugin's breakers (the operator enabled it: it starts afresh everywhere)."""

    async def deployment(self) -> Deployment:
        """The shared words and every process's last report."""

    def share_failure(self, plugin_id: str, failure: SharedFailure) -> None:
        """Tell the deployment of one failure of a plugin in this process (queued: never waits, never fails)."""

    async def failures(self, plugin_ids: Sequence[str], since: float) -> dict[str, list[SharedFailure]] | None:
        """Each plugin's failures in every process of the deployment since ``since`` (wall time), oldest first;
        None when nothing is shared (one process) or the shared store cannot be read now."""

    async def close(self) -> None:
        """Leave (this process's report is withdrawn)."""


class LocalControlPlane:
    """One process: its own state is the deployment's; nothing is published or received."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self._report: Report = lambda: ({}, {})
        self._words: dict[str, SharedWord] = {}

    async def start(self, apply: Apply, report: Report, open_breaker: OpenBreaker) -> None:
        self._report = report

    async def publish(self, plugin_id: str, word: SharedWord) -> bool:
        self._words[plugin_id] = word
        return True

    async def vote_breaker(self, plugin_id: str, world_id: int) -> None:
        return None  # the breaker that opened here is the deployment's whole

    async def clear_breakers(self, plugin_id: str) -> None:
        return None

    async def deployment(self) -> Deployment:
        plugins, failing = self._report()
        view = ReplicaView(self.replica, plugins, True, time.time(), failing)
        return Deployment(False, self.replica, True, None, dict(self._words), (view,))

    def share_failure(self, plugin_id: str, failure: SharedFailure) -> None:
        return None  # the host's own health book is the deployment's whole

    async def failures(self, plugin_ids: Sequence[str], since: float) -> dict[str, list[SharedFailure]] | None:
        return None

    async def close(self) -> None:
        return None


def replica_view(raw: str) -> ReplicaView | None:
    """A replica's stored report, or None when it is not one."""
    try:
        data: dict[str, Any] = json.loads(raw)
        plugins = {str(k): str(v) for k, v in dict(data["plugins"]).items()}
        failing = {
            str(pid): Failing(int(f["window_failures"]), int(f["window_calls"]), str(f["last"]))
            for pid, f in dict(data.get("failing", {})).items()
        }
        return ReplicaView(str(data["replica"]), plugins, bool(data["connected"]), float(data["seen_at"]), failing)
    except (ValueError, TypeError, KeyError):
        return None


def report_json(replica: str, plugins: dict[str, str], failing: dict[str, Failing], seen_at: float) -> str:
    """A replica's report as stored (what :func:`replica_view` reads back)."""
    data = {
        "replica": replica,
        "plugins": plugins,
        "failing": {pid: asdict(f) for pid, f in failing.items()},
        "connected": True,
        "seen_at": seen_at,
    }
    return json.dumps(data, separators=(",", ":"))

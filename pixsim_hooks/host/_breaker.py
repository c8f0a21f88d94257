"""Per-(plugin, world) circuit breakers: a plugin that keeps failing in one world is taken out of that world only.

closed → (``threshold`` failures within ``window_s``) → open → (``cooldown_s``) → half-open → one call: success →
closed, failure → open again. Every transition is logged, counted and visible through :meth:`Breakers.states`.
Breaker state lives in this process; in a deployment of several, a breaker that opens here is this process's vote
(``on_local_open``), and the control plane opens it here too (:meth:`Breakers.open_shared`) once a quorum of
processes voted: one process alone never opens a breaker for the others.

The dispatcher asks :meth:`Breakers.blocked` once per hook call; while no breaker is open that is one dict lookup
and no clock read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

__all__ = ["BreakerState", "BreakerView", "Breakers"]

_log = structlog.get_logger("pixsim_hooks.breaker")
_NONE: frozenset[str] = frozenset()


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0


@dataclass(frozen=True, slots=True)
class BreakerView:
    plugin_id: str
    world_id: int
    state: BreakerState
    recent_failures: int
    opened_at: float | None


class Breakers:
    """All breakers of one host. ``on_transition(plugin_id, world_id, old, new)`` is called on every change."""

    def __init__(
        self,
        *,
        threshold: int,
        window_s: float,
        cooldown_s: float,
        on_transition: Callable[[str, int, BreakerState, BreakerState], None] | None = None,
        on_local_open: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold, self._window, self._cooldown = threshold, window_s, cooldown_s
        self._on_transition = on_transition
        self._on_local_open = on_local_open
        self._clock = clock
        self._breakers: dict[tuple[str, int], _Breaker] = {}
        self._blocked: dict[int, frozenset[str]] = {}  # world -> plugins whose breaker is open there
        self._half_open: dict[int, frozenset[str]] = {}
        self._next_expiry = float("inf")
        self.tripped = False

    @property
    def any_tripped(self) -> bool:
        """Whether any breaker is open or half-open (when not, dispatch skips asking per world). The same as the
        plain attribute :attr:`tripped`, which the hot path reads."""
        return self.tripped

    # -- hot path ---------------------------------------------------------------------------------------------
    def blocked(self, world_id: int) -> frozenset[str]:
        """Plugins that must not run in ``world_id`` now (their breaker there is open)."""
        if not self._blocked:
            return _NONE
        if self._clock() >= self._next_expiry:
            self._expire()
        return self._blocked.get(world_id, _NONE)

    def half_open(self, world_id: int) -> frozenset[str]:
        return self._half_open.get(world_id, _NONE) if self._half_open else _NONE

    # -- outcomes ---------------------------------------------------------------------------------------------
    def record_failure(self, plugin_id: str, world_id: int) -> None:
        now = self._clock()
        breaker = self._breakers.setdefault((plugin_id, world_id), _Breaker())
        breaker.failures.append(now)
        while breaker.failures and breaker.failures[0] < now - self._window:
            breaker.failures.popleft()
        if breaker.state is BreakerState.HALF_OPEN or (
            breaker.state is BreakerState.CLOSED and len(breaker.failures) >= self._threshold
        ):
            breaker.opened_at = now
            self._move(plugin_id, world_id, breaker, BreakerState.OPEN)
            if self._on_local_open is not None:
                self._on_local_open(plugin_id, world_id)

    def open_shared(self, plugin_id: str, world_id: int) -> bool:
        """Open the breaker because the deployment decided so (a quorum of processes saw the plugin fail in that
        world), for one cooldown; whether it changed. No vote of this process's follows from it."""
        breaker = self._breakers.setdefault((plugin_id, world_id), _Breaker())
        if breaker.state is BreakerState.OPEN:
            return False
        breaker.opened_at = self._clock()
        self._move(plugin_id, world_id, breaker, BreakerState.OPEN)
        return True

    @property
    def cooldown_s(self) -> float:
        return self._cooldown

    def record_success(self, plugin_id: str, world_id: int) -> None:
        breaker = self._breakers.get((plugin_id, world_id))
        if breaker is not None and breaker.state is BreakerState.HALF_OPEN:
            breaker.failures.clear()
            self._move(plugin_id, world_id, breaker, BreakerState.CLOSED)

    def reset(self, plugin_id: str, world_id: int | None = None) -> int:
        """Close the plugin's breakers (in one world, or everywhere) at once — the admin's re-enable."""
        closed = 0
        for (pid, wid), breaker in list(self._breakers.items()):
            if pid == plugin_id and (world_id is None or wid == world_id) and breaker.state is not BreakerState.CLOSED:
                breaker.failures.clear()
                self._move(pid, wid, breaker, BreakerState.CLOSED)
                closed += 1
        return closed

    def states(self) -> list[BreakerView]:
        self.blocked(-1)  # let expired breakers turn half-open before they are shown
        return [
            BreakerView(pid, wid, b.state, len(b.failures), b.opened_at if b.state is not BreakerState.CLOSED else None)
            for (pid, wid), b in sorted(self._breakers.items())
            if b.state is not BreakerState.CLOSED or b.failures
        ]

    # -- internals --------------------------------------------------------------------------------------------
    def _expire(self) -> None:
        now = self._clock()
        for (pid, wid), breaker in list(self._breakers.items()):
            if breaker.state is BreakerState.OPEN and now >= breaker.opened_at + self._cooldown:
                self._move(pid, wid, breaker, BreakerState.HALF_OPEN)

    def _move(self, plugin_id: str, world_id: int, breaker: _Breaker, new: BreakerState) -> None:
        old, breaker.state = breaker.state, new
        self._reindex()
        _log.warning(
            "plugin circuit breaker changed",
            plugin_id=plugin_id,
            world_id=world_id,
            old=old.value,
            new=new.value,
            recent_failures=len(breaker.failures),
        )
        if self._on_transition is not None:
            self._on_transition(plugin_id, world_id, old, new)

    def _reindex(self) -> None:
        blocked: dict[int, set[str]] = {}
        half: dict[int, set[str]] = {}
        expiry = float("inf")
        for (pid, wid), breaker in self._breakers.items():
            if breaker.state is BreakerState.OPEN:
                blocked.setdefault(wid, set()).add(pid)
                expiry = min(expiry, breaker.opened_at + self._cooldown)
            elif breaker.state is BreakerState.HALF_OPEN:
                half.setdefault(wid, set()).add(pid)
        self._blocked = {w: frozenset(p) for w, p in blocked.items()}
        self._half_open = {w: frozenset(p) for w, p in half.items()}
        self._next_expiry = expiry
        self.tripped = bool(self._blocked or self._half_open)

"""What the host records against each plugin: failures of its hookimpls and the denials it ran into.

Recording happens off the hot path (only when something went wrong), so successful dispatch costs nothing here.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from pixsim_hooks.plugin import PermissionDenied, plugin_traceback
from pixsim_hooks.telemetry import Telemetry

__all__ = [
    "FailureRecord",
    "HealthBook",
    "HealthView",
    "Outcome",
    "PluginHealth",
]

_log = structlog.get_logger("pixsim_hooks.health")
RECENT = 50


class Outcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One failure of one plugin: which hook (or capability member), which world, what went wrong and when."""

    plugin_id: str
    where: str
    outcome: Outcome
    exc_type: str
    message: str
    world_id: int | None = None
    at: float = field(default_factory=time.time)


@dataclass
class PluginHealth:
    """Lifetime counters, the most recent failures (a bounded ring) and the failures of the sliding window."""

    failures: Counter[Outcome] = field(default_factory=Counter)
    denials: int = 0
    recent: deque[FailureRecord] = field(default_factory=lambda: deque(maxlen=RECENT))
    window: deque[float] = field(default_factory=deque)  # monotonic times of failures still inside the window
    samples: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic time, successful calls so far)
    last_success: float | None = None  # wall time, at the granularity of the samples


@dataclass(frozen=True, slots=True)
class HealthView:
    """One plugin's health now: failures and successful calls within the sliding window, and their rate."""

    healthy: bool
    window_s: float
    window_failures: int
    window_calls: int
    error_rate: float
    last_success: float | None
    failures: dict[str, int]
    denials: int
    recent: tuple[FailureRecord, ...]


class HealthBook:
    """Per-plugin health, fed by the dispatcher (failures) and by the capability proxies (denials)."""

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        window_s: float = 60.0,
        calls_of: Callable[[str], int] = lambda plugin_id: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._telemetry = telemetry
        self._plugins: dict[str, PluginHealth] = {}
        self._window = window_s
        self._calls_of = calls_of
        self._clock = clock

    def of(self, plugin_id: str) -> PluginHealth:
        return self._plugins.setdefault(plugin_id, PluginHealth())

    def view(self, plugin_id: str) -> HealthView:
        """Health over the sliding window: healthy again once the window holds no failure."""
        health, now = self.of(plugin_id), self._clock()
        self._slide(health, now)
        calls_now = self._sample(plugin_id, health, now)
        window_calls = calls_now - health.samples[0][1] + len(health.window)
        failures = len(health.window)
        return HealthView(
            healthy=failures == 0,
            window_s=self._window,
            window_failures=failures,
            window_calls=window_calls,
            error_rate=failures / window_calls if window_calls else 0.0,
            last_success=health.last_success,
            failures={k.value: v for k, v in health.failures.items()},
            denials=health.denials,
            recent=tuple(health.recent),
        )

    def _slide(self, health: PluginHealth, now: float) -> None:
        while health.window and health.window[0] < now - self._window:
            health.window.popleft()

    def _sample(self, plugin_id: str, health: PluginHealth, now: float) -> int:
        """Record (now, successful calls so far); keep the newest sample older than the window as its base."""
        calls = self._calls_of(plugin_id)
        if health.samples and calls > health.samples[-1][1]:
            health.last_success = time.time()
        if not health.samples or now - health.samples[-1][0] >= 1.0:
            health.samples.append((now, calls))
        while len(health.samples) > 1 and health.samples[1][0] <= now - self._window:
            health.samples.popleft()
        return calls

    def record_failure(
        self, plugin_id: str, where: str, outcome: Outcome, exc: BaseException, world_id: int | None = None
    ) -> FailureRecord:
        record = FailureRecord(plugin_id, where, outcome, type(exc).__name__, str(exc)[:500], world_id)
        health = self.of(plugin_id)
        health.failures[outcome] += 1
        health.recent.append(record)
        now = self._clock()
        health.window.append(now)
        self._slide(health, now)
        self._sample(plugin_id, health, now)
        self._telemetry.count_failure(plugin_id, where, outcome.value)
        _log.error(
            "plugin call failed; fallback applied",
            plugin_id=plugin_id,
            hook=where,
            world_id=world_id,
            outcome=outcome.value,
            exc_type=record.exc_type,
            error=record.message,
            traceback=plugin_traceback(exc),
        )
        return record

    def record_denial(self, exc: PermissionDenied) -> None:
        """A plugin touched something it was not granted (the denial may or may not escape its hook)."""
        where = f"{exc.capability}.{exc.member}" if exc.member else exc.capability
        health = self.of(exc.plugin_id)
        health.denials += 1
        health.recent.append(FailureRecord(exc.plugin_id, where, Outcome.DENIED, type(exc).__name__, str(exc)))
        self._telemetry.count_denial(exc.plugin_id, where)
        _log.warning(
            "plugin permission denied",
            plugin_id=exc.plugin_id,
            capability=exc.capability,
            member=exc.member,
            permission=exc.permission,
            error=str(exc),
        )

"""What the host records against each plugin: failures of its hookimpls and the denials it ran into.

Recording happens off the hot path (only when something went wrong), so successful dispatch costs nothing here.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from pixsim_hooks._exceptions import PermissionDenied
from pixsim_hooks._telemetry import Telemetry

__all__ = ["FailureRecord", "HealthBook", "Outcome", "PluginHealth"]

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
    """Counters and the most recent failures of one plugin (a bounded ring)."""

    failures: Counter[Outcome] = field(default_factory=Counter)
    denials: int = 0
    recent: deque[FailureRecord] = field(default_factory=lambda: deque(maxlen=RECENT))


class HealthBook:
    """Per-plugin health, fed by the dispatcher (failures) and by the capability proxies (denials)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._plugins: dict[str, PluginHealth] = {}

    def of(self, plugin_id: str) -> PluginHealth:
        return self._plugins.setdefault(plugin_id, PluginHealth())

    def record_failure(
        self, plugin_id: str, where: str, outcome: Outcome, exc: BaseException, world_id: int | None = None
    ) -> FailureRecord:
        record = FailureRecord(plugin_id, where, outcome, type(exc).__name__, str(exc)[:500], world_id)
        health = self.of(plugin_id)
        health.failures[outcome] += 1
        health.recent.append(record)
        self._telemetry.count_failure(plugin_id, where, outcome.value)
        _log.warning(
            "plugin call failed; fallback applied",
            plugin_id=plugin_id,
            hook=where,
            world_id=world_id,
            outcome=outcome.value,
            exc_type=record.exc_type,
            error=record.message,
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

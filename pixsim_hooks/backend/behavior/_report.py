"""What a tick reports: one row per NPC and the clock before and after."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["DecisionRow", "DecisionStatus", "TickReport"]


class DecisionStatus(StrEnum):
    STARTED = "started"  # decided on a new activity (its effects applied)
    CONTINUED = "continued"  # decided to carry on with its current activity
    IDLE = "idle"  # decided, but nothing was feasible
    BUSY = "busy"  # simulated, but its current activity still runs (nextDecisionAtSeconds not reached)
    NOT_DUE = "not_due"  # its tier's tickFrequencySeconds have not passed
    DEFERRED = "deferred"  # due, but over maxNpcsPerTick: first in line next tick


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One NPC in one tick. ``plugins``: the plugins whose condition, scoring factor or effect took part in its
    decision; ``failed_plugins``: those whose call failed (their fallback was used). ``suggested``: the chosen
    activity came from a plugin suggestion."""

    npc_id: int
    npc_name: str
    tier: str
    detail_level: str
    status: DecisionStatus
    activity_id: str | None = None
    activity_name: str | None = None
    score: float | None = None
    energy: float | None = None
    location_id: int | None = None
    plugins: tuple[str, ...] = ()
    failed_plugins: tuple[str, ...] = ()
    suggested: bool = False

    @property
    def decided(self) -> bool:
        return self.status in (DecisionStatus.STARTED, DecisionStatus.CONTINUED, DecisionStatus.IDLE)


@dataclass(frozen=True, slots=True)
class TickReport:
    session_id: int
    world_id: int
    seed: int
    world_time_before: float
    world_time_after: float
    version: int  # the session's version after the tick's write
    attempts: int  # 1 unless concurrent writers forced a recompute
    rows: tuple[DecisionRow, ...]

    @property
    def decisions(self) -> int:
        return sum(row.decided for row in self.rows)

    @property
    def simulated(self) -> int:
        return sum(row.status not in (DecisionStatus.NOT_DUE, DecisionStatus.DEFERRED) for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.update(decisions=self.decisions, simulated=self.simulated)
        return body

"""A small timing harness: best-of-N per-operation timings, and rows that compare each against a baseline.

Every row compares a measured operation against a baseline timed in the same process, one right after the other,
so machine load affects both sides alike. Figures are the minimum over repeats (the least disturbed run), in
nanoseconds per operation. A row's id is stable from run to run (``dispatch.10.tracing_off``), so results can be
compared; its :class:`Target` is checked, so ``met`` says whether the figure holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Row", "Target", "at_most", "per_op_ns", "per_op_ns_async", "print_rows", "ratio_at_most", "within"]


@dataclass(frozen=True)
class Target:
    """What a row is held to: ``ratio <= limit``, ``measured - baseline <= limit`` ns, or ``measured <= limit`` ns."""

    kind: Literal["ratio", "delta_ns", "measured_ns"]
    limit: float

    def met(self, measured_ns: float, baseline_ns: float) -> bool:
        if self.kind == "ratio":
            return measured_ns <= self.limit * baseline_ns
        if self.kind == "delta_ns":
            return measured_ns - baseline_ns <= self.limit
        return measured_ns <= self.limit

    def __str__(self) -> str:
        if self.kind == "ratio":
            return f"ratio <= {self.limit:g}"
        if self.kind == "delta_ns":
            return f"<= baseline + {self.limit / 1000:g} us"
        return f"<= {self.limit / 1000:g} us"


def ratio_at_most(limit: float) -> Target:
    return Target("ratio", limit)


def within(delta_ns: float) -> Target:
    return Target("delta_ns", delta_ns)


def at_most(ns: float) -> Target:
    return Target("measured_ns", ns)


@dataclass(frozen=True)
class Row:
    """One benchmark line: a measurement, its baseline (what it is against, in words), the target it is held to."""

    id: str
    measured_ns: float
    baseline: str
    baseline_ns: float
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_ns / self.baseline_ns if self.baseline_ns else float("inf")

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.measured_ns, self.baseline_ns)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "measured_ns": round(self.measured_ns, 1),
            "baseline_ns": round(self.baseline_ns, 1),
            "ratio": round(self.ratio, 4),
            "target": None if self.target is None else str(self.target),
            "met": self.met,
            "baseline": self.baseline,
            "note": self.note,
        }


def per_op_ns(fn: Callable[[], object], *, number: int = 20_000, repeat: int = 7) -> float:
    """Best-of-``repeat`` time of ``number`` calls of ``fn``, in ns per call."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / number)
    return best


def per_op_ns_async(fn: Callable[[], Awaitable[object]], *, number: int = 20_000, repeat: int = 7) -> float:
    """Like :func:`per_op_ns` for a coroutine function, awaited in a loop inside one event loop."""

    async def batch() -> float:
        start = time.perf_counter_ns()
        for _ in range(number):
            await fn()
        return (time.perf_counter_ns() - start) / number

    async def best_of() -> float:
        return min([await batch() for _ in range(repeat)])

    return asyncio.run(best_of())


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n== {title}")
    print(f"{'id':34} {'measured':>12} {'baseline':>12} {'ratio':>7}  {'target':24} met")
    for r in rows:
        met = {None: "-", True: "yes", False: "NO"}[r.met]
        print(
            f"{r.id:34} {r.measured_ns:10.0f}ns {r.baseline_ns:10.0f}ns {r.ratio:6.2f}x  {r.target or ''!s:24} {met}"
            f"   (baseline: {r.baseline}{'; ' + r.note if r.note else ''})"
        )

"""A small timing harness: best-of-N per-operation timings and ratio rows.

Every row compares a measured operation against a baseline timed in the same process, one right after the other,
so machine load affects both sides alike. Figures are the minimum over repeats (the least disturbed run), in
nanoseconds per operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One benchmark line: a measurement, its baseline, and the target it is held to (text, for the reader)."""

    name: str
    measured_ns: float
    baseline_name: str
    baseline_ns: float
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_ns / self.baseline_ns if self.baseline_ns else float("inf")

    @property
    def delta_us(self) -> float:
        return (self.measured_ns - self.baseline_ns) / 1000


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
    print(f"{'case':58} {'measured':>12} {'baseline':>12} {'ratio':>7} {'+us':>8}  target")
    for r in rows:
        print(
            f"{r.name:58} {r.measured_ns:10.0f}ns {r.baseline_ns:10.0f}ns {r.ratio:6.2f}x {r.delta_us:7.2f}  {r.target}"
            f"   (baseline: {r.baseline_name})"
        )

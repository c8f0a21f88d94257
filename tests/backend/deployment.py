"""What the tests of a deployment of real processes share: a process read on in the background, and one bounded
way of waiting for what other processes do (asking again, since nothing else can be seen of them)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
BOUND_S = 10.0


class Server:
    """One ``pixsim-hooks serve`` (or ``worker``) process; its stderr read on in the background once it is up."""

    def __init__(self, process: asyncio.subprocess.Process, base: str) -> None:
        self.process, self.base = process, base
        self.origin = base.removesuffix("/api/v1")
        self._drain = asyncio.get_running_loop().create_task(self._read_on())

    async def _read_on(self) -> None:
        assert self.process.stderr is not None
        while await self.process.stderr.read(1 << 16):
            pass

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.process.wait(), timeout=30)
        await self._drain


async def eventually(
    probe: Callable[[], Awaitable[T]], holds: Callable[[T], bool], what: str, *, bound_s: float = BOUND_S
) -> T:
    """``probe()`` again until its answer ``holds`` (bounded: failing with ``what`` and the last answer); that answer.
    The servers are other processes: asking again is the only way to see them change."""
    end = time.monotonic() + bound_s
    while not holds(seen := await probe()):
        assert time.monotonic() < end, f"{what}; last seen: {seen!r}"
        await asyncio.sleep(0.02)
    return seen

"""What the sandbox tests share: their deadlines and bounds, the child a host runs for a plugin, and waits on it
that watch the process itself rather than a clock."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from pixsim_hooks.host import PluginHost, PluginState
from tests import processes

DEADLINE_MS = 1500
DEADLINE_S = DEADLINE_MS / 1000
# A host that blocked its event loop on a misbehaving plugin would lag by the whole deadline; an ordinary run lags
# up to ~0.25 s on a loaded 2-core machine (the worst seen; measured alone, a `make bench` row: milliseconds).
MAX_LAG_S = DEADLINE_S / 2
# A runaway call ends at its deadline, plus the kill; the slack is for a loaded machine (runaways never end alone).
MAX_TOOK_S = DEADLINE_S + 2.0
Run = Callable[..., Awaitable[PluginHost]]


def running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def dies(proc: psutil.Process, within: float = 5.0) -> bool:
    """The process exits within ``within`` seconds (the kill follows the missed deadline by a loop turn; the rest
    is slack for a loaded machine). Waits on the process itself, not on a clock."""
    return not await asyncio.to_thread(processes.wait_gone, [proc], within)


async def restarted(host: PluginHost, plugin_id: str, within: float = 10.0) -> bool:
    isolated = host.isolated(plugin_id)
    assert isolated is not None
    end = time.monotonic() + within
    while not isolated.running and host.plugin(plugin_id).state is PluginState.ENABLED:
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.02)
    return isolated.running


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class LagMonitor:
    """Measures how late the host's event loop wakes a 10 ms sleeper while an attack runs."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.max_lag = max(self.max_lag, loop.time() - start - 0.01)

    async def __aenter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def child(host: PluginHost, plugin_id: str) -> psutil.Process:
    """The plugin's child process, by the pid the host reports (the sandbox's outermost process)."""
    isolated = host.isolated(plugin_id)
    assert isolated is not None
    pid = isolated.transport.pid  # type: ignore[attr-defined]
    assert isinstance(pid, int)
    return psutil.Process(pid)


def failures(host: PluginHost, plugin_id: str) -> dict[str, int]:
    return host.health.view(plugin_id).failures


async def attack(host: PluginHost, world_id: int = 0) -> tuple[list[Any], float, float]:
    """Call the hostile hook; (results, seconds taken, worst event-loop lag meanwhile)."""
    async with LagMonitor() as lag:
        start = time.monotonic()
        results = await host.hook.provide_simulation_defaults(world_id=world_id)
        took = time.monotonic() - start
    return results, took, lag.max_lag

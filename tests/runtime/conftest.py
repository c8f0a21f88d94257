"""The ``run`` fixture: a host running one of ``tests/runtime/hostile_plugins.py``'s plugins in a sandboxed child."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pixsim_hooks import ProcessRuntime
from pixsim_hooks.host import PluginHost, Settings, create_host
from pixsim_hooks.runtime import ProcessPlugin
from tests.runtime.sandboxed import DEADLINE_MS, Run


@pytest.fixture
async def run(no_leftover_processes: None) -> AsyncIterator[Run]:
    """``await run("Spinner")``: a loaded host running ``tests.runtime.hostile_plugins:Spinner`` in a child
    (``runtime=`` its limits). The hosts shut down after the test; then ``no_leftover_processes`` fails the test
    if anything it started is still running."""
    hosts: list[PluginHost] = []

    async def start(name: str, runtime: ProcessRuntime | None = None, **settings: Any) -> PluginHost:
        settings.setdefault("hook_deadline_ms", DEADLINE_MS)
        plugin = ProcessPlugin(f"tests.runtime.hostile_plugins:{name}", runtime=runtime)
        host = create_host(Settings(**settings), plugins=[plugin], entry_points=[])
        await host.load()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        await host.shutdown()

"""The transport of an ``isolation: process`` plugin: one frame out to its sandboxed child, one frame back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixsim_hooks.plugin import PluginCrashed, ProtocolError
from pixsim_hooks.runtime._descriptors import ProcessPlugin
from pixsim_hooks.runtime._sandbox import ChildProcess, detect_sandbox

__all__ = ["ProcessTransport"]


class ProcessTransport:
    """The :class:`~pixsim_hooks.runtime._isolated.Transport` of a child process: one frame out, one frame back."""

    restartable = True

    def __init__(self, label: str, plugin: ProcessPlugin, max_bytes: int, spin_us: int = 0) -> None:
        self.label = label
        self.plugin = plugin
        self.max_bytes = max_bytes
        self.spin_us = spin_us
        self.child: ChildProcess | None = None
        self._on_violation: Callable[[ProtocolError], None] | None = None

    def watch(self, on_violation: Callable[[ProtocolError], None]) -> None:
        """Report a frame that arrives while no answer is awaited (every child this transport starts): no call is
        waiting to raise it, and the child must not live on to the next call with it."""
        self._on_violation = on_violation

    async def open(self) -> None:
        if self.child is not None:
            await self.child.kill()
        self.child = ChildProcess(self.label, self.plugin, self.max_bytes, self.spin_us, self._on_violation)
        try:
            await self.child.start()
        except BaseException:
            await self.child.kill()
            raise

    async def exchange(self, message: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        if self.child is None:
            raise PluginCrashed(f"plugin {self.label!r}: its process is not running", plugin_id=self.label)
        await self.child.send(message)
        return await self.child.recv(deadline)

    async def close(self, *, kill: bool) -> None:
        if self.child is not None:
            await self.child.kill()

    def log_tail(self) -> str:
        return self.child.log_tail() if self.child is not None else ""

    def describe(self) -> str:
        return f"process ({detect_sandbox()})"

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

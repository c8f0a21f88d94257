"""What an operator installs to run a plugin out of process: :class:`ProcessPlugin` and :class:`RemotePlugin`.

Neither holds plugin code: a process plugin names its code (the host never imports it), a remote plugin is the
operator's copy of its manifest (its endpoint and secret setting are its identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pixsim_hooks.plugin import PluginManifest, ProcessRuntime

__all__ = ["ProcessPlugin", "RemotePlugin"]


@dataclass(frozen=True, slots=True)
class ProcessPlugin:
    """Run a plugin in a sandboxed child process: the Python plugin at ``target`` (``"package.module"`` or
    ``"package.module:attr"``; the host never imports it), or a ``command`` in any language that speaks
    ``docs/plugin-protocol.md`` on the socket whose descriptor number it finds in ``PIXSIM_PROTOCOL_FD``
    (``readable`` adds what the command needs to the sandbox's read-only view). ``runtime`` overrides the
    manifest's ``process`` limits."""

    target: str | None = None
    runtime: ProcessRuntime | None = None
    command: tuple[str, ...] = ()
    readable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.target is None) == (not self.command):
            raise ValueError("a ProcessPlugin runs a Python target or a command: give exactly one")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "readable", tuple(self.readable))

    @property
    def label(self) -> str:
        return self.target if self.target is not None else " ".join(self.command)


@dataclass(frozen=True, slots=True)
class RemotePlugin:
    """A plugin served over HTTP, configured by the operator's copy of its manifest (``kind: remote``); that
    configuration (endpoint, secret) is its identity."""

    manifest: PluginManifest | Mapping[str, Any]

"""Throwaway plugins for the host tests, importable by faked entry points (``tests.host.plugins:<Name>``)."""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PluginManifest, hookimpl


def manifest(pid: str, *permissions: str, **fields: Any) -> PluginManifest:
    fields.setdefault("trust", "first_party")
    return PluginManifest(id=pid, name=pid.title(), version="1.0.0", permissions=permissions, **fields)


class Recorder:
    """Subscribes to session events and remembers what it saw (and with which ctx)."""

    manifest = manifest("recorder", "event:subscribe")

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> str:
        self.seen.append((ctx.plugin_id, event))
        return "recorder"


class Second(Recorder):
    manifest = manifest("second", "event:subscribe")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> str:
        self.seen.append((ctx.plugin_id, event))
        return "second"


class NeedsRecorder(Recorder):
    manifest = manifest("needs-recorder", "event:subscribe", dependencies=("recorder",))

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> str:
        return "needs-recorder"


class BadManifest:
    manifest = {"id": "bad-manifest", "name": "Bad", "version": "one"}

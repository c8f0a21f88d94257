"""A plugin for the delivery tests, installed into their server and worker processes through a dist-info the test
writes. It tells the test what it was handed by appending one JSON line per call to ``$DELIVERY_LOG``."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from pixsim_hooks import PluginManifest, hookimpl


def _note(what: str, event: Any) -> None:
    line = {
        "worker": os.environ.get("DELIVERY_WORKER", "?"),
        "what": what,
        "event_id": event.event_id,
        "session": event.session.id,
        "version": event.session_version,
        "type": type(event).__name__,
    }
    # One write of one short line to a file opened for appending: whole lines, whichever process writes.
    fd = os.open(os.environ["DELIVERY_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


class Journaling:
    """Notes each event handed to it. ``DELIVERY_BLOCK=1``: never returns from the first one (the test kills the
    process). A session whose flags hold ``poison`` fails while ``$DELIVERY_FIXED`` does not exist."""

    manifest = PluginManifest(
        id="journaling", name="Journaling", version="1.0.0", trust="first_party", permissions=("event:subscribe",)
    )

    @hookimpl
    async def on_session_created(self, ctx: Any, event: Any) -> None:
        await self._take(event)

    @hookimpl
    async def on_session_updated(self, ctx: Any, event: Any) -> None:
        await self._take(event)

    async def _take(self, event: Any) -> None:
        _note("handed", event)
        if os.environ.get("DELIVERY_BLOCK") == "1":
            await asyncio.Event().wait()
        _handle(event)


def _handle(event: Any) -> None:
    if event.session.flags.get("poison") and not Path(os.environ["DELIVERY_FIXED"]).exists():
        _note("failed", event)
        raise RuntimeError("poisoned session")
    _note("handled", event)

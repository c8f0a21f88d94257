"""A plugin for the deployment tests, installed into their server processes through a dist-info the test writes."""

from __future__ import annotations

import os
from typing import Any

from pixsim_hooks import PluginManifest, hookimpl


class Flaky:
    """Fails on every session created, in the processes started with ``FLAKY_FAILS=1``; fine in the others."""

    manifest = PluginManifest(
        id="flaky", name="Flaky", version="1.0.0", trust="first_party", permissions=("event:subscribe",)
    )

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        if os.environ.get("FLAKY_FAILS") == "1":
            raise RuntimeError("this process's copy of flaky is broken")

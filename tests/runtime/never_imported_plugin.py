"""A plugin installed under ``pixsim_hooks.isolated_plugins``: the host must run it without importing it.

Importing this module in a process records it in ``IMPORTED_IN`` (the importing process id); the test asserts the
host's own process never did."""

from __future__ import annotations

import os
from typing import Any

from pixsim_hooks import PluginManifest, hookimpl

IMPORTED_IN = os.getpid()

manifest = PluginManifest(
    id="never-imported",
    name="Never imported",
    version="1.0.0",
    trust="community",
    isolation="process",
    permissions=("behavior:configure_simulation",),
)


@hookimpl
def provide_simulation_defaults(ctx: Any, world_id: int) -> dict[str, Any]:
    return {"imported_in": IMPORTED_IN}

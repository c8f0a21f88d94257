"""An in-process plugin whose import-time code reads the admin token (its import is the attack)."""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PluginManifest, hookimpl
from tests.host.evil.record import imported

imported("community")

manifest = PluginManifest(
    id="community",
    name="Community",
    version="1.0.0",
    trust="community",
    permissions=("behavior:configure_simulation",),
)


@hookimpl
def provide_simulation_defaults(ctx: Any, world_id: int) -> dict[str, Any]:
    import os

    return {"pid": os.getpid()}

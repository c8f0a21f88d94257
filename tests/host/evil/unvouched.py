"""An in-process plugin whose import-time code reads the admin token (its import is the attack)."""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PluginManifest, hookimpl
from tests.host.evil.record import imported

imported("unvouched")

manifest = PluginManifest(
    id="unvouched",
    name="Unvouched",
    version="1.0.0",
    trust="first_party",
    permissions=("behavior:configure_simulation",),
)


@hookimpl
def provide_simulation_defaults(ctx: Any, world_id: int) -> dict[str, Any]:
    import os

    return {"pid": os.getpid()}

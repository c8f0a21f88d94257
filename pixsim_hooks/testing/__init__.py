"""``pixsim_hooks.testing``: the plugin author's test kit, a pytest plugin (entry point ``pytest11``).

A test that asks for the ``pixsim`` fixture gets a :class:`Harness`: the reference backend with the plugins under
test (the ``pixsim_plugins`` fixture, or the ``pixsim_plugins`` ini option) on a fresh SQLite file, and runs once
per :class:`Tier`: the plugin in the host's process, in a sandboxed child process, and behind signed HTTP
(``--pixsim-tier NAME`` selects tiers, ``@pytest.mark.pixsim_tiers(...)`` restricts one test). The harness builds
demo data, calls the plugin's hooks, conditions, effects, scoring factors and routes through the real host, reads
what it wrote and what the host recorded against it. :class:`ServedApp` serves any ASGI app on a loopback port.
``docs/authoring.md`` ("Testing your plugin") has a worked example.

The top wing: it imports the backend and the public faces of the other wings, and nothing imports it. Its names
load on first use (PEP 562): pytest imports this package in every run where pixsim-hooks is installed, and a
suite that never asks for ``pixsim`` should not pay for importing the backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pixsim_hooks.testing._tiers import TIERS, Tier

if TYPE_CHECKING:
    from pixsim_hooks.testing._harness import DEFAULT, EffectWrites, Harness
    from pixsim_hooks.testing._isolation import REMOTE_SECRET_SETTING
    from pixsim_hooks.testing._servers import ServedApp

__all__ = [
    "DEFAULT",
    "EffectWrites",
    "Harness",
    "REMOTE_SECRET_SETTING",
    "ServedApp",
    "TIERS",
    "Tier",
]

_LAZY = {
    "DEFAULT": "pixsim_hooks.testing._harness",
    "EffectWrites": "pixsim_hooks.testing._harness",
    "Harness": "pixsim_hooks.testing._harness",
    "REMOTE_SECRET_SETTING": "pixsim_hooks.testing._isolation",
    "ServedApp": "pixsim_hooks.testing._servers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later reads are plain attribute reads
    return value

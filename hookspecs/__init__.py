"""The plugin contract of PixSim: pluggy markers for project ``pixsim`` and the hookspec modules.

Every hookspec takes ``ctx`` (the plugin's own :class:`pixsim_hooks.PluginContext`) first; the host injects it,
callers never pass it. Each hookspec carries a :class:`HookContract`: the permission a plugin needs to implement it
and what the host falls back to when an implementation fails. This package imports only pluggy.
"""

from __future__ import annotations

from types import ModuleType

from hookspecs import behavior, events, lifecycle, routes
from hookspecs._markers import PROJECT_NAME, Fallback, HookContract, contract, contract_of, hookimpl, hookspec

__all__ = [
    "PROJECT_NAME",
    "SPEC_MODULES",
    "Fallback",
    "HookContract",
    "behavior",
    "contract",
    "contract_of",
    "events",
    "hookimpl",
    "hookspec",
    "lifecycle",
    "routes",
]

SPEC_MODULES: tuple[ModuleType, ...] = (lifecycle, events, behavior, routes)
"""Every hookspec module, in the order the host adds them to its plugin manager."""

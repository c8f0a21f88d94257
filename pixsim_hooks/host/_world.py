"""Which plugins a world lets take part (DESIGN.md decision 8): ``GameWorld.meta.behavior.enabledPlugins``.

Absent → every globally enabled plugin; a list of plugin ids → only those; anything else → none (fail closed),
with a warning. PixSim's own built-ins (the ``core`` namespace) are never filtered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from pixsim_hooks.plugin import CORE_PLUGIN_ID

__all__ = ["WorldScope", "enabled_plugins_from_meta"]

_log = structlog.get_logger("pixsim_hooks.world")


@dataclass(frozen=True, slots=True)
class WorldScope:
    """The world a hook call is made for, and the plugins that world has enabled (None = all)."""

    world_id: int | None
    enabled: frozenset[str] | None = None

    def allows(self, plugin_id: str) -> bool:
        return self.enabled is None or plugin_id in self.enabled or plugin_id == CORE_PLUGIN_ID

    @classmethod
    def from_meta(cls, world_id: int | None, meta: Any) -> WorldScope:
        return cls(world_id, enabled_plugins_from_meta(meta, world_id=world_id))


_MISSING = object()


def enabled_plugins_from_meta(meta: Any, *, world_id: int | None = None) -> frozenset[str] | None:
    """Parse ``meta.behavior.enabledPlugins``; malformed data enables no plugin and logs a warning."""
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        return _malformed(world_id, "meta", meta)
    behavior = meta.get("behavior", _MISSING)
    if behavior is _MISSING:
        return None
    if not isinstance(behavior, Mapping):
        return _malformed(world_id, "meta.behavior", behavior)
    enabled = behavior.get("enabledPlugins", _MISSING)
    if enabled is _MISSING:
        return None
    if not isinstance(enabled, list | tuple) or not all(isinstance(p, str) for p in enabled):
        return _malformed(world_id, "meta.behavior.enabledPlugins", enabled)
    return frozenset(enabled)


def _malformed(world_id: int | None, path: str, value: Any) -> frozenset[str]:
    _log.warning(
        "world plugin enablement is malformed; no plugin is enabled for this world",
        world_id=world_id,
        path=path,
        found=type(value).__name__,
    )
    return frozenset()

"""The NPC behavior engine (behavior-model.md): activities, routine graphs, scoring, tiers, and plugins' extensions.

``await tick(host, storage, session_id, seconds, seed=...)`` advances a session and lets its world's NPCs act, in
one version-checked write. Built-in conditions and effects are registered on the host (``core:<type>``,
``effect:core:<name>``) and called like plugins' extensions; only plugins the world enables take part.
"""

from __future__ import annotations

from pixsim_hooks.backend.behavior._config import DEFAULT_WEIGHTS, BehaviorConfig
from pixsim_hooks.backend.behavior._core import ensure_core_behavior
from pixsim_hooks.backend.behavior._engine import MAX_ATTEMPTS, ApplyChange, tick
from pixsim_hooks.backend.behavior._loading import (
    V1_CATEGORIES,
    check_npc_meta,
    check_world_meta,
    load_behavior,
    migrate_v1,
)
from pixsim_hooks.backend.behavior._report import DecisionRow, DecisionStatus, TickReport
from pixsim_hooks.backend.behavior._world import time_of_day

__all__ = [
    "ApplyChange",
    "BehaviorConfig",
    "DEFAULT_WEIGHTS",
    "DecisionRow",
    "DecisionStatus",
    "MAX_ATTEMPTS",
    "TickReport",
    "V1_CATEGORIES",
    "check_npc_meta",
    "check_world_meta",
    "ensure_core_behavior",
    "load_behavior",
    "migrate_v1",
    "tick",
    "time_of_day",
]

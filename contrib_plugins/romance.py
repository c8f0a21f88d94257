"""Romance: a scoring factor ``plugin:romance:chemistry`` that draws NPCs to social and romantic activities with a
player they have chemistry with.

For an activity of category ``social`` or ``romance`` (or one with ``meta.romantic: true``) the factor is
``1 + chemistry / 100`` for the session's ``relationships["npc:<id>"].chemistry`` of the deciding NPC, clamped to
0.5..2.0 (missing chemistry: 0 → neutral); every other activity gets the neutral 1.0. Worlds tune its strength with
``scoringConfig.weights["plugin:romance:chemistry"]`` (default 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsim_hooks import NpcView, PluginContext, PluginManifest, hookimpl

__all__ = ["ROMANTIC_CATEGORIES", "chemistry_factor", "manifest", "register_behavior"]

manifest = PluginManifest(
    id="romance",
    name="Romance",
    version="1.0.0",
    description="Scoring factor favouring social and romantic activities by relationship chemistry.",
    author="PixSim",
    trust="first_party",
    permissions=("behavior:extend_scoring",),
)

ROMANTIC_CATEGORIES = frozenset({"social", "romance"})
LOWEST, HIGHEST = 0.5, 2.0


def _romantic(activity: Mapping[str, Any]) -> bool:
    meta = activity.get("meta")
    return activity.get("category") in ROMANTIC_CATEGORIES or (
        isinstance(meta, Mapping) and meta.get("romantic") is True
    )


def _chemistry(view: NpcView) -> float:
    relationship = view.session.relationships.get(view.npc_key)
    value = relationship.get("chemistry") if isinstance(relationship, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def chemistry_factor(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float:
    if not _romantic(activity):
        return 1.0
    return min(HIGHEST, max(LOWEST, 1.0 + _chemistry(view) / 100))


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_scoring_factor("chemistry", chemistry_factor)

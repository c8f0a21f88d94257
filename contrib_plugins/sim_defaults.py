"""Simulation defaults: the three-tier simulation of behavior-model.md for worlds that author none.

- ``same_location`` (the NPC is where the player is): every second, full detail;
- ``nearby`` (the NPC's location and the player's are neighbours, ``meta.nearbyLocationIds``): every minute,
  simplified;
- ``far_away`` (everyone else, the default): every hour, schedule only.

Offered once, as static defaults (``ctx.behavior.register_simulation_defaults``). Whatever a world's own
``simulationConfig`` says wins, key by key (tiers by id).
"""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PluginContext, PluginManifest, hookimpl

__all__ = ["DEFAULTS", "manifest", "register_behavior"]

manifest = PluginManifest(
    id="sim_defaults",
    name="Simulation defaults",
    version="1.0.0",
    description="Default simulation tiers: same_location 1 s full, nearby 60 s simplified, far_away 3600 s.",
    author="PixSim",
    trust="first_party",
    permissions=("behavior:configure_simulation",),
)

DEFAULTS: dict[str, Any] = {
    "version": 2,
    "tiers": [
        {"id": "same_location", "tickFrequencySeconds": 1, "detailLevel": "full"},
        {"id": "nearby", "tickFrequencySeconds": 60, "detailLevel": "simplified"},
        {"id": "far_away", "tickFrequencySeconds": 3600, "detailLevel": "schedule_only"},
    ],
    "priorityRules": [
        {"condition": "same_location", "tier": "same_location", "priority": 20},
        {"condition": "nearby", "tier": "nearby", "priority": 10},
    ],
    "defaultTier": "far_away",
}


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_simulation_defaults(DEFAULTS)

"""Inventory: a behavior effect ``effect:plugin:inventory:give_item`` that hands the player items.

Items live in the plugin's own session flag ``items`` (stored as ``flags["plugin:inventory:items"]``), a map of
item id → count. An activity gives one with::

    "customEffects": [{"type": "effect:plugin:inventory:give_item", "params": {"item": "fish", "count": 2}}]

The handler reads the count through its effect writer, so two NPCs giving the same item in one tick both count.
Bad params (no item, a count that is not a positive integer up to :data:`MAX_COUNT`) make the effect fail: the
engine records it and applies nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsim_hooks import EffectWriter, NpcView, PluginContext, PluginManifest, hookimpl, thaw

__all__ = ["ITEMS_FLAG", "MAX_COUNT", "give_item", "manifest", "register_behavior"]

manifest = PluginManifest(
    id="inventory",
    name="Inventory",
    version="1.0.0",
    description="Behavior effect give_item: items counted in the session's own flags.",
    author="PixSim",
    trust="first_party",
    permissions=("behavior:extend_effects",),
)

ITEMS_FLAG = "items"
MAX_COUNT = 999


def give_item(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None:
    item, count = params.get("item"), params.get("count", 1)
    if not isinstance(item, str) or not item or len(item) > 100:
        raise ValueError("give_item needs params.item, a non-empty item id of at most 100 characters")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"give_item params.count must be an integer from 1 to {MAX_COUNT}")
    current = writer.get_flag(ITEMS_FLAG, {})
    items: dict[str, Any] = thaw(current) if isinstance(current, Mapping) else {}  # anything else starts afresh
    held = items.get(item)
    items[item] = (held if isinstance(held, int) and not isinstance(held, bool) else 0) + count
    writer.set_flag(ITEMS_FLAG, items)


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_effect_handler("give_item", give_item)

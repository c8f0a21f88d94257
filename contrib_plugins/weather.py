"""Weather: a behavior condition ``plugin:weather:is_raining`` for activities and routines.

It reads the world's ``meta.weather`` (through the decision's read-only view, so it needs no read permission):
either a string (``"rain"``) or an object with a ``condition`` key (``{"condition": "storm", ...}``). It is
raining when that names one of :data:`RAINY` (or of ``params["conditions"]`` when the condition lists its own)::

    {"type": "custom", "evaluatorId": "plugin:weather:is_raining"}
    {"type": "custom", "evaluatorId": "plugin:weather:is_raining", "params": {"conditions": ["storm"]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsim_hooks import NpcView, PluginContext, PluginManifest, hookimpl

__all__ = ["RAINY", "current_weather", "is_raining", "manifest", "register_behavior"]

manifest = PluginManifest(
    id="weather",
    name="Weather",
    version="1.0.0",
    description="Behavior condition is_raining, from the world's meta.weather.",
    author="PixSim",
    trust="first_party",
    permissions=("behavior:extend_conditions",),
)

RAINY = frozenset({"rain", "drizzle", "storm", "thunderstorm"})


def current_weather(world_meta: Mapping[str, Any]) -> str | None:
    """The world's weather condition, lower-cased, or None when it has none (or something unreadable)."""
    weather = world_meta.get("weather")
    if isinstance(weather, Mapping):
        weather = weather.get("condition")
    return weather.strip().lower() if isinstance(weather, str) else None


def is_raining(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool:
    listed = params.get("conditions")
    rainy = {str(c).lower() for c in listed} if isinstance(listed, list | tuple) else RAINY
    return current_weather(view.world_meta) in rainy


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_condition_evaluator("is_raining", is_raining)

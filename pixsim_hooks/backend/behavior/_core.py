"""PixSim's built-in conditions and effects, registered through the host's core BehaviorExtensionAPI exactly as plugins
register theirs (first-party behaviour as plugins): ``core:<type>`` and ``effect:core:<name>``.
"""

from __future__ import annotations

from typing import cast

from pixsim_hooks.backend.behavior._conditions import CORE_CONDITIONS
from pixsim_hooks.backend.behavior._effects import CORE_EFFECTS
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import EffectHandler, ExtensionKind

__all__ = ["ensure_core_behavior"]


def ensure_core_behavior(host: PluginHost) -> None:
    """Register the built-ins on ``host`` once; later calls do nothing. Synchronous, so two ticks starting together
    on one event loop cannot both register."""
    api = None
    for name, condition in CORE_CONDITIONS.items():
        if host.behavior.get(ExtensionKind.CONDITION, f"core:{name}") is None:
            api = api or host.core_behavior()
            api.register_condition_evaluator(name, condition)
    for name, effect in CORE_EFFECTS.items():
        if host.behavior.get(ExtensionKind.EFFECT, f"effect:core:{name}") is None:
            api = api or host.core_behavior()
            # The built-ins take the core's writer (it can also move the NPC and its state): the engine hands them
            # one, where a plugin's effect gets a plain EffectWriter.
            api.register_effect_handler(name, cast(EffectHandler, effect))

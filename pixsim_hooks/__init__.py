"""pixsim-hooks: a capability-based plugin host for the PixSim game backend. This is the plugin author's face.

Plugin authors write pluggy hookimpls (``@hookimpl``) taking ``ctx`` first, declare a :class:`PluginManifest`,
and ship through the ``pixsim_hooks.plugins`` entry-point group::

    from pixsim_hooks import PluginManifest, hookimpl

    manifest = PluginManifest(id="weather", name="Weather", version="1.0.0", trust="first_party",
                              permissions=["world:read", "behavior:extend_conditions"])

    @hookimpl
    def register_behavior(ctx):
        ctx.behavior.register_condition_evaluator("is_raining", is_raining)

The host gives each plugin only the capabilities its permissions grant. In-process capability proxies stop
mistakes, not malice: CPython has no in-process sandbox, so ``trust: community`` plugins are refused in-process
and run out of process (``docs/plugin-protocol.md``).

Everything here comes from :mod:`pixsim_hooks.plugin` and :mod:`hookspecs`, so importing it (as a plugin's child
process does) loads neither the host, FastAPI nor OpenTelemetry. Operators and embedders import
:mod:`pixsim_hooks.host`, :mod:`pixsim_hooks.fastapi` and :mod:`pixsim_hooks.runtime`.
"""

from __future__ import annotations

from hookspecs import hookimpl
from pixsim_hooks.plugin import (
    BehaviorExtensionAPI,
    CapabilityError,
    ConditionEvaluator,
    ConfigError,
    EffectHandler,
    EffectWriter,
    GenerationCapability,
    GenerationSnapshot,
    InteractionExecuted,
    Isolation,
    LocationChanged,
    LocationSnapshot,
    LogCapability,
    NamespaceViolation,
    NotFoundError,
    NpcCapability,
    NpcSnapshot,
    NpcSpawned,
    NpcView,
    Permission,
    PermissionDenied,
    PixsimHooksError,
    PluginContext,
    PluginKind,
    PluginManifest,
    PluginNotEnabled,
    ProcessRuntime,
    RemoteRuntime,
    ScoringFactor,
    SessionCapability,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    StaleWriteError,
    Trust,
    WorldCapability,
    WorldSnapshot,
    WorldTimeAdvanced,
    thaw,
)

__all__ = [
    "BehaviorExtensionAPI",
    "CapabilityError",
    "ConditionEvaluator",
    "ConfigError",
    "EffectHandler",
    "EffectWriter",
    "GenerationCapability",
    "GenerationSnapshot",
    "InteractionExecuted",
    "Isolation",
    "LocationChanged",
    "LocationSnapshot",
    "LogCapability",
    "NamespaceViolation",
    "NotFoundError",
    "NpcCapability",
    "NpcSnapshot",
    "NpcSpawned",
    "NpcView",
    "Permission",
    "PermissionDenied",
    "PixsimHooksError",
    "PluginContext",
    "PluginKind",
    "PluginManifest",
    "PluginNotEnabled",
    "ProcessRuntime",
    "RemoteRuntime",
    "ScoringFactor",
    "SessionCapability",
    "SessionCreated",
    "SessionSnapshot",
    "SessionUpdated",
    "StaleWriteError",
    "Trust",
    "WorldCapability",
    "WorldSnapshot",
    "WorldTimeAdvanced",
    "hookimpl",
    "thaw",
]

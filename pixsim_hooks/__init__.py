"""pixsim-hooks: a capability-based plugin host for the PixSim game backend.

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
and must run out of process: in a sandboxed child (:class:`ProcessPlugin`, or the ``pixsim_hooks.isolated_plugins``
entry-point group, never imported by the host) or behind HTTP (:class:`RemotePlugin`, served with
:func:`serve_plugin`). The protocol between them is ``docs/plugin-protocol.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public names, by the module that defines them. Imported on first use (PEP 562): a plugin's child process, which
# needs the manifest and the markers, does not pay for FastAPI, OpenTelemetry or the host at start-up.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "hookspecs": ("hookimpl",),
    "pixsim_hooks._behavior_registry": ("BehaviorEntry", "BehaviorExtensionAPI", "BehaviorRegistry", "ExtensionKind"),
    "pixsim_hooks._behavior_types": ("EffectWriter", "NpcView", "StagedWrites"),
    "pixsim_hooks._capabilities": (
        "GenerationCapability",
        "LogCapability",
        "NpcCapability",
        "SessionCapability",
        "WorldCapability",
    ),
    "pixsim_hooks._context": ("PluginContext",),
    "pixsim_hooks._dispatch": ("HookCaller",),
    "pixsim_hooks._events": (
        "InteractionExecuted",
        "LocationChanged",
        "NpcSpawned",
        "SessionCreated",
        "SessionUpdated",
        "WorldTimeAdvanced",
    ),
    "pixsim_hooks._exceptions": (
        "CapabilityError",
        "ConfigError",
        "DependencyError",
        "HookDeadlineExceeded",
        "ManifestError",
        "NamespaceViolation",
        "NotFoundError",
        "PermissionDenied",
        "PixsimHooksError",
        "PluginCrashed",
        "PluginLoadError",
        "PluginNotEnabled",
        "ProtocolError",
        "RemotePluginError",
        "StaleWriteError",
        "UnknownPluginError",
    ),
    "pixsim_hooks._fastapi": (
        "PLUGIN_ADMIN_PREFIX",
        "PLUGIN_API_PREFIX",
        "PluginMiddleware",
        "get_plugin_context",
        "mount_plugin_routers",
    ),
    "pixsim_hooks._frozen": ("FrozenDict", "freeze", "thaw"),
    "pixsim_hooks._health": ("FailureRecord", "Outcome", "PluginHealth"),
    "pixsim_hooks._host": ("PluginHost", "PluginInfo", "PluginState", "create_host"),
    "pixsim_hooks._loading": ("ENTRY_POINT_GROUP", "ISOLATED_ENTRY_POINT_GROUP", "ProcessPlugin", "RemotePlugin"),
    "pixsim_hooks._manifest": (
        "CORE_PLUGIN_ID",
        "Isolation",
        "PluginKind",
        "PluginManifest",
        "ProcessRuntime",
        "RemoteRuntime",
        "Trust",
    ),
    "pixsim_hooks._permissions": ("CAPABILITY_MEMBERS", "Permission"),
    "pixsim_hooks._remote_server": ("serve_plugin",),
    "pixsim_hooks._settings": ("Settings",),
    "pixsim_hooks._snapshots": (
        "GenerationRequest",
        "GenerationSnapshot",
        "LocationSnapshot",
        "NpcSnapshot",
        "SessionChange",
        "SessionSnapshot",
        "WorldSnapshot",
    ),
    "pixsim_hooks._storage": ("GenerationStore", "NpcStore", "SessionStore", "Storage", "WorldStore"),
    "pixsim_hooks._world": ("WorldScope",),
}

if TYPE_CHECKING:
    from hookspecs import hookimpl
    from pixsim_hooks._behavior_registry import (
        BehaviorEntry,
        BehaviorExtensionAPI,
        BehaviorRegistry,
        ExtensionKind,
    )
    from pixsim_hooks._behavior_types import EffectWriter, NpcView, StagedWrites
    from pixsim_hooks._capabilities import (
        GenerationCapability,
        LogCapability,
        NpcCapability,
        SessionCapability,
        WorldCapability,
    )
    from pixsim_hooks._context import PluginContext
    from pixsim_hooks._dispatch import HookCaller
    from pixsim_hooks._events import (
        InteractionExecuted,
        LocationChanged,
        NpcSpawned,
        SessionCreated,
        SessionUpdated,
        WorldTimeAdvanced,
    )
    from pixsim_hooks._exceptions import (
        CapabilityError,
        ConfigError,
        DependencyError,
        HookDeadlineExceeded,
        ManifestError,
        NamespaceViolation,
        NotFoundError,
        PermissionDenied,
        PixsimHooksError,
        PluginCrashed,
        PluginLoadError,
        PluginNotEnabled,
        ProtocolError,
        RemotePluginError,
        StaleWriteError,
        UnknownPluginError,
    )
    from pixsim_hooks._fastapi import (
        PLUGIN_ADMIN_PREFIX,
        PLUGIN_API_PREFIX,
        PluginMiddleware,
        get_plugin_context,
        mount_plugin_routers,
    )
    from pixsim_hooks._frozen import FrozenDict, freeze, thaw
    from pixsim_hooks._health import FailureRecord, Outcome, PluginHealth
    from pixsim_hooks._host import PluginHost, PluginInfo, PluginState, create_host
    from pixsim_hooks._loading import ENTRY_POINT_GROUP, ISOLATED_ENTRY_POINT_GROUP, ProcessPlugin, RemotePlugin
    from pixsim_hooks._manifest import (
        CORE_PLUGIN_ID,
        Isolation,
        PluginKind,
        PluginManifest,
        ProcessRuntime,
        RemoteRuntime,
        Trust,
    )
    from pixsim_hooks._permissions import CAPABILITY_MEMBERS, Permission
    from pixsim_hooks._remote_server import serve_plugin
    from pixsim_hooks._settings import Settings
    from pixsim_hooks._snapshots import (
        GenerationRequest,
        GenerationSnapshot,
        LocationSnapshot,
        NpcSnapshot,
        SessionChange,
        SessionSnapshot,
        WorldSnapshot,
    )
    from pixsim_hooks._storage import GenerationStore, NpcStore, SessionStore, Storage, WorldStore
    from pixsim_hooks._world import WorldScope


__all__ = [
    "BehaviorEntry",
    "BehaviorExtensionAPI",
    "BehaviorRegistry",
    "CAPABILITY_MEMBERS",
    "CORE_PLUGIN_ID",
    "CapabilityError",
    "ConfigError",
    "DependencyError",
    "ENTRY_POINT_GROUP",
    "EffectWriter",
    "ExtensionKind",
    "FailureRecord",
    "FrozenDict",
    "GenerationCapability",
    "GenerationRequest",
    "GenerationSnapshot",
    "GenerationStore",
    "HookCaller",
    "HookDeadlineExceeded",
    "ISOLATED_ENTRY_POINT_GROUP",
    "InteractionExecuted",
    "Isolation",
    "LocationChanged",
    "LocationSnapshot",
    "LogCapability",
    "ManifestError",
    "NamespaceViolation",
    "NotFoundError",
    "NpcCapability",
    "NpcSnapshot",
    "NpcSpawned",
    "NpcStore",
    "NpcView",
    "Outcome",
    "PLUGIN_ADMIN_PREFIX",
    "PLUGIN_API_PREFIX",
    "Permission",
    "PermissionDenied",
    "PixsimHooksError",
    "PluginContext",
    "PluginCrashed",
    "PluginHealth",
    "PluginHost",
    "PluginInfo",
    "PluginKind",
    "PluginLoadError",
    "PluginManifest",
    "PluginMiddleware",
    "PluginNotEnabled",
    "PluginState",
    "ProcessPlugin",
    "ProcessRuntime",
    "ProtocolError",
    "RemotePlugin",
    "RemotePluginError",
    "RemoteRuntime",
    "SessionCapability",
    "SessionChange",
    "SessionCreated",
    "SessionSnapshot",
    "SessionStore",
    "SessionUpdated",
    "Settings",
    "StagedWrites",
    "StaleWriteError",
    "Storage",
    "Trust",
    "UnknownPluginError",
    "WorldCapability",
    "WorldScope",
    "WorldSnapshot",
    "WorldStore",
    "WorldTimeAdvanced",
    "create_host",
    "freeze",
    "get_plugin_context",
    "hookimpl",
    "mount_plugin_routers",
    "serve_plugin",
    "thaw",
]


def __getattr__(name: str) -> Any:
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(import_module(module), name)
            globals()[name] = value  # the next access is a plain module attribute
            return value
    raise AttributeError(f"module 'pixsim_hooks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

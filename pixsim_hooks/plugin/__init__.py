"""``pixsim_hooks.plugin``: everything a plugin sees, and the one exceptions module.

The manifest and its permissions; the :class:`PluginContext` the host builds for each plugin and the capability
facades behind its proxies (``ctx.world``, ``ctx.session``, ``ctx.npc``, ``ctx.behavior``, ``ctx.generation``,
``ctx.log``); the immutable snapshots and frozen values those return; the events plugins receive; what the behavior
engine hands to conditions, effects and scoring factors; the storage protocols the capabilities are written
against. Plugin authors import the curated subset of this from :mod:`pixsim_hooks`; the other wings import this.

Imports only :mod:`proxies` and pydantic: never the host, the runtime, telemetry, FastAPI or OpenTelemetry, so a
plugin's child process can load it cheaply.
"""

from __future__ import annotations

from pixsim_hooks.plugin._behavior import BehaviorEntry, BehaviorExtensionAPI, BehaviorRegistry, ExtensionKind
from pixsim_hooks.plugin._behavior_types import MAX_RELATIONSHIP_DELTA, EffectWriter, NpcView, StagedWrites
from pixsim_hooks.plugin._capabilities import (
    MAX_VALUE_BYTES,
    RELATIONSHIP_METRICS,
    GenerationCapability,
    LogCapability,
    NpcCapability,
    SessionCapability,
    WorldCapability,
    WorldCheck,
    checked_json,
    namespaced_key,
)
from pixsim_hooks.plugin._context import CONTEXT_MEMBERS, ContextServices, PluginContext, build_context
from pixsim_hooks.plugin._events import (
    InteractionExecuted,
    LocationChanged,
    NpcSpawned,
    SessionCreated,
    SessionUpdated,
    WorldTimeAdvanced,
)
from pixsim_hooks.plugin._exceptions import (
    CapabilityError,
    ConfigError,
    ConversationLost,
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
from pixsim_hooks.plugin._frozen import FrozenDict, freeze, thaw
from pixsim_hooks.plugin._manifest import (
    CORE_PLUGIN_ID,
    Isolation,
    PluginKind,
    PluginManifest,
    ProcessRuntime,
    RemoteRuntime,
    Trust,
    parse_manifest,
)
from pixsim_hooks.plugin._permissions import (
    CAPABILITIES,
    CAPABILITY_MEMBERS,
    Permission,
    member_requirements,
    resolve_permissions,
)
from pixsim_hooks.plugin._snapshots import (
    GenerationRequest,
    GenerationSnapshot,
    LocationSnapshot,
    NpcSnapshot,
    SessionChange,
    SessionSnapshot,
    WorldSnapshot,
)
from pixsim_hooks.plugin._storage import GenerationStore, NpcStore, SessionStore, Storage, WorldStore

__all__ = [
    "BehaviorEntry",
    "BehaviorExtensionAPI",
    "BehaviorRegistry",
    "CAPABILITIES",
    "CAPABILITY_MEMBERS",
    "CONTEXT_MEMBERS",
    "CORE_PLUGIN_ID",
    "CapabilityError",
    "ConfigError",
    "ContextServices",
    "ConversationLost",
    "DependencyError",
    "EffectWriter",
    "ExtensionKind",
    "FrozenDict",
    "GenerationCapability",
    "GenerationRequest",
    "GenerationSnapshot",
    "GenerationStore",
    "HookDeadlineExceeded",
    "InteractionExecuted",
    "Isolation",
    "LocationChanged",
    "LocationSnapshot",
    "LogCapability",
    "MAX_RELATIONSHIP_DELTA",
    "MAX_VALUE_BYTES",
    "ManifestError",
    "NamespaceViolation",
    "NotFoundError",
    "NpcCapability",
    "NpcSnapshot",
    "NpcSpawned",
    "NpcStore",
    "NpcView",
    "Permission",
    "PermissionDenied",
    "PixsimHooksError",
    "PluginContext",
    "PluginCrashed",
    "PluginKind",
    "PluginLoadError",
    "PluginManifest",
    "PluginNotEnabled",
    "ProcessRuntime",
    "ProtocolError",
    "RELATIONSHIP_METRICS",
    "RemotePluginError",
    "RemoteRuntime",
    "SessionCapability",
    "SessionChange",
    "SessionCreated",
    "SessionSnapshot",
    "SessionStore",
    "SessionUpdated",
    "StagedWrites",
    "StaleWriteError",
    "Storage",
    "Trust",
    "UnknownPluginError",
    "WorldCapability",
    "WorldCheck",
    "WorldSnapshot",
    "WorldStore",
    "WorldTimeAdvanced",
    "build_context",
    "checked_json",
    "freeze",
    "member_requirements",
    "namespaced_key",
    "parse_manifest",
    "resolve_permissions",
    "thaw",
]

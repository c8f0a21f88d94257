"""``pixsim_hooks.host``: the plugin host, for operators and embedders.

:func:`create_host` builds a :class:`PluginHost` (there is no module-level manager): it finds plugins and decides,
before any plugin code runs, which may load and how (allow/deny/trust, dependencies); it loads them, builds each
one's context, keeps their states and quarantines, and dispatches hooks and behavior extensions on one isolated
path (``host.hook.<name>``, ``host.call_extension``) with world scoping, circuit breakers, deadlines, health and
tracing. :class:`Settings` are the ``PIXSIM_*`` settings of the host and the reference backend. A
:class:`ControlPlane` shares the operator's word on each plugin (enabled, disabled, quarantined) with the other
processes of a deployment (:class:`LocalControlPlane` for one process; Redis with ``PIXSIM_REDIS_URL``).

Imports the plugin, runtime and telemetry wings (and pluggy, the OpenTelemetry API); never FastAPI or the backend.
"""

from __future__ import annotations

from pixsim_hooks.host._breaker import Breakers, BreakerState, BreakerView
from pixsim_hooks.host._control import (
    ControlPlane,
    Deployment,
    LocalControlPlane,
    ReplicaView,
    SharedFailure,
    SharedWord,
)
from pixsim_hooks.host._dispatch import Delivery, HookCaller, HookRelay
from pixsim_hooks.host._health import FailureRecord, HealthBook, HealthView, Outcome, PluginHealth
from pixsim_hooks.host._host import PluginHost, PluginInfo, PluginState, control_plane, create_host
from pixsim_hooks.host._loading import ENTRY_POINT_GROUP, ISOLATED_ENTRY_POINT_GROUP, policy_refusal
from pixsim_hooks.host._reference import plugin_reference
from pixsim_hooks.host._settings import Settings
from pixsim_hooks.host._world import WorldScope, enabled_plugins_from_meta

__all__ = [
    "BreakerState",
    "BreakerView",
    "Breakers",
    "ControlPlane",
    "Delivery",
    "Deployment",
    "ENTRY_POINT_GROUP",
    "FailureRecord",
    "HealthBook",
    "HealthView",
    "HookCaller",
    "HookRelay",
    "ISOLATED_ENTRY_POINT_GROUP",
    "LocalControlPlane",
    "Outcome",
    "PluginHealth",
    "PluginHost",
    "PluginInfo",
    "PluginState",
    "ReplicaView",
    "Settings",
    "SharedFailure",
    "SharedWord",
    "WorldScope",
    "control_plane",
    "create_host",
    "enabled_plugins_from_meta",
    "plugin_reference",
    "policy_refusal",
]

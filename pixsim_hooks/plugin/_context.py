"""``PluginContext``: the one object through which a plugin reaches the game, built only by the host.

The host builds one context per loaded plugin from its approved manifest and injects it into the plugin's
hookimpls as ``ctx``. Every capability surface on it is a capability proxy whose allowlist is the set of members
the plugin's permissions unlock; the context itself is a proxy too, so nothing on it can be replaced. The
capability objects behind the proxies are bound to the plugin's id here, so a plugin can never act as another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pixsim_hooks.plugin._behavior import BehaviorExtensionAPI, BehaviorRegistry
from pixsim_hooks.plugin._capabilities import (
    GenerationCapability,
    LogCapability,
    NpcCapability,
    SessionCapability,
    WorldCapability,
    WorldCheck,
)
from pixsim_hooks.plugin._exceptions import PermissionDenied
from pixsim_hooks.plugin._manifest import PluginManifest
from pixsim_hooks.plugin._permissions import CAPABILITIES, Permission, member_requirements
from pixsim_hooks.plugin._storage import CoreStorage, Storage
from proxies import capability_proxy

__all__ = [
    "CONTEXT_MEMBERS",
    "ContextServices",
    "PluginContext",
    "build_context",
]

CONTEXT_MEMBERS = ("plugin_id", "permissions", "manifest", *CAPABILITIES)


class PluginContext:
    """What a plugin receives as ``ctx`` (first argument of every hookimpl).

    Attributes: ``plugin_id``, ``permissions`` (frozenset of permission strings, fixed at load), ``manifest``
    (the approved, frozen manifest) and the capability surfaces ``world``, ``session``, ``npc``, ``behavior``,
    ``generation``, ``log``. A member the plugin's permissions do not grant raises
    :class:`~pixsim_hooks.PermissionDenied`; so does assigning anything. Plugins cannot construct one.
    """

    __slots__ = CONTEXT_MEMBERS

    if TYPE_CHECKING:
        plugin_id: str
        permissions: frozenset[str]
        manifest: PluginManifest
        world: WorldCapability
        session: SessionCapability
        npc: NpcCapability
        behavior: BehaviorExtensionAPI
        generation: GenerationCapability
        log: LogCapability

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a PluginContext is built by the plugin host; a plugin receives its own as `ctx`")


@dataclass(frozen=True, slots=True)
class ContextServices:
    """What the host lends to the capability objects it builds for each plugin."""

    storage: Storage
    check_world: WorldCheck
    registry: BehaviorRegistry
    logger_for: Callable[[str], Any]
    on_denied: Callable[[PermissionDenied], None]
    on_core_error: Callable[[str, BaseException], None]
    """``(plugin_id, exc)``: the host's storage failed under that plugin's call (logged; never the plugin's)."""


def build_context(
    manifest: PluginManifest, permissions: frozenset[Permission], services: ContextServices
) -> PluginContext:
    """Build the proxied context of one plugin. Its permissions are fixed from here on."""
    pid = manifest.id
    # What the storage itself gets wrong is the core's, not the plugin's.
    storage = CoreStorage(services.storage, lambda exc: services.on_core_error(pid, exc))
    facades: dict[str, object] = {
        "world": WorldCapability(storage),
        "session": SessionCapability(pid, storage, services.check_world, services.on_denied),
        "npc": NpcCapability(storage),
        "behavior": BehaviorExtensionAPI(pid, services.registry, services.on_denied),
        "generation": GenerationCapability(pid, storage, services.check_world),
        "log": LogCapability(services.logger_for(pid)),
    }
    requires = member_requirements()
    raw = object.__new__(PluginContext)
    object.__setattr__(raw, "plugin_id", pid)
    object.__setattr__(raw, "permissions", frozenset(p.value for p in permissions))
    object.__setattr__(raw, "manifest", manifest.model_copy())  # the host keeps its own approved copy
    for capability, facade in facades.items():
        grants = {m: p.value for p in permissions for m in p.members.get(capability, ())}
        proxy = capability_proxy(
            facade,
            plugin_id=pid,
            capability=capability,
            grants=grants,
            requires=requires[capability],
            on_denied=services.on_denied,
        )
        object.__setattr__(raw, capability, proxy)
    ctx = capability_proxy(
        raw,
        plugin_id=pid,
        capability="ctx",
        grants=dict.fromkeys(CONTEXT_MEMBERS),
        requires={},
        on_denied=services.on_denied,
    )
    return cast(PluginContext, ctx)

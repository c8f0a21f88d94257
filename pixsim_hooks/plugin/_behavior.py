"""The behavior extension registry and the BehaviorExtensionAPI (``ctx.behavior``) that is its only way in.

Every entry records which plugin registered it (provenance). Plugin ids are namespaced from the host-bound
identity: conditions and scoring factors ``plugin:<id>:<name>``, effects ``effect:plugin:<id>:<name>``; PixSim's
built-ins live under ``core:<name>`` / ``effect:core:<name>`` and are registered through the same API by the host.
The registry object itself never reaches plugin code; the engine reads it through :meth:`BehaviorRegistry.get`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pixsim_hooks.plugin._behavior_types import ConditionEvaluator, EffectHandler, ScoringFactor
from pixsim_hooks.plugin._capabilities import checked_json
from pixsim_hooks.plugin._exceptions import NamespaceViolation, PermissionDenied
from pixsim_hooks.plugin._frozen import freeze
from pixsim_hooks.plugin._manifest import CORE_PLUGIN_ID

__all__ = [
    "BehaviorEntry",
    "BehaviorExtensionAPI",
    "BehaviorRegistry",
    "ExtensionKind",
]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}", re.ASCII)


class ExtensionKind(StrEnum):
    CONDITION = "condition"
    EFFECT = "effect"
    SCORING = "scoring"


_LABELS = {ExtensionKind.SCORING: "scoring factor"}


@dataclass(frozen=True, slots=True)
class BehaviorEntry:
    """One registered extension: its full id, kind, the plugin that registered it and the function."""

    id: str
    kind: ExtensionKind
    plugin_id: str
    fn: Callable[..., Any]
    is_async: bool


class BehaviorRegistry:
    """Host-owned store of behavior extensions, keyed by (kind, id)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[ExtensionKind, str], BehaviorEntry] = {}
        self._simulation_defaults: dict[str, Mapping[str, Any]] = {}

    def get(self, kind: ExtensionKind, extension_id: str) -> BehaviorEntry | None:
        return self._entries.get((kind, extension_id))

    def entries(self, kind: ExtensionKind | None = None) -> tuple[BehaviorEntry, ...]:
        return tuple(e for (k, _), e in sorted(self._entries.items()) if kind is None or k is kind)

    def simulation_defaults(self) -> Mapping[str, Mapping[str, Any]]:
        """Static simulation defaults by plugin id (the world's own config always wins over these)."""
        return MappingProxyType(dict(self._simulation_defaults))

    def withdraw(self, plugin_id: str) -> int:
        """Remove everything ``plugin_id`` registered (when it is quarantined). Returns how many entries."""
        doomed = [key for key, entry in self._entries.items() if entry.plugin_id == plugin_id]
        for key in doomed:
            del self._entries[key]
        self._simulation_defaults.pop(plugin_id, None)
        return len(doomed)

    def _add(self, entry: BehaviorEntry) -> None:
        key = (entry.kind, entry.id)
        if key in self._entries:
            raise ValueError(f"{entry.kind} {entry.id!r} is already registered")
        for kind in ExtensionKind:  # one id, one extension: a call names the id alone (out of process, too)
            if kind is not entry.kind and (kind, entry.id) in self._entries:
                named, adding = _LABELS.get(kind, kind), _LABELS.get(entry.kind, entry.kind)
                raise ValueError(f"{entry.id!r} already names a {named}; give the {adding} another name")
        self._entries[key] = entry

    def _set_simulation_defaults(self, plugin_id: str, config: Mapping[str, Any]) -> None:
        self._simulation_defaults[plugin_id] = config


class BehaviorExtensionAPI:
    """``ctx.behavior``: register conditions, effects, scoring factors and simulation defaults.

    Each member needs its permission (checked by the capability proxy); the id is always namespaced under the
    caller's own plugin id, and a name that reaches into another namespace is refused and recorded.
    """

    def __init__(self, plugin_id: str, registry: BehaviorRegistry, report: Callable[[PermissionDenied], None]) -> None:
        self._plugin_id = plugin_id
        self._registry = registry
        self._report = report

    def register_condition_evaluator(self, name: str, fn: ConditionEvaluator) -> str:
        """Register ``fn`` as custom condition ``plugin:<id>:<name>``; returns the full evaluator id."""
        return self._register(ExtensionKind.CONDITION, "", name, fn, "register_condition_evaluator")

    def register_effect_handler(self, name: str, fn: EffectHandler) -> str:
        """Register ``fn`` as custom effect type ``effect:plugin:<id>:<name>``; returns the full effect type."""
        return self._register(ExtensionKind.EFFECT, "effect:", name, fn, "register_effect_handler")

    def register_scoring_factor(self, name: str, fn: ScoringFactor) -> str:
        """Register ``fn`` as scoring factor ``plugin:<id>:<name>``; returns the full factor id."""
        return self._register(ExtensionKind.SCORING, "", name, fn, "register_scoring_factor")

    def register_simulation_defaults(self, config: Mapping[str, Any]) -> None:
        """Offer static ``simulationConfig`` defaults (finite JSON). What a world authored always wins."""
        if not isinstance(config, Mapping):
            raise TypeError("simulation defaults must be a mapping")
        self._registry._set_simulation_defaults(self._plugin_id, freeze(checked_json(dict(config))))

    def _register(self, kind: ExtensionKind, prefix: str, name: str, fn: Callable[..., Any], member: str) -> str:
        if not callable(fn):
            raise TypeError(f"{member} needs a callable")
        full = f"{prefix}{self._namespace()}:{self._local_name(prefix, name, member)}"
        self._registry._add(BehaviorEntry(full, kind, self._plugin_id, fn, inspect.iscoroutinefunction(fn)))
        return full

    def _namespace(self) -> str:
        return CORE_PLUGIN_ID if self._plugin_id == CORE_PLUGIN_ID else f"plugin:{self._plugin_id}"

    def _local_name(self, prefix: str, name: str, member: str) -> str:
        if type(name) is not str:  # exactly: a str subclass's own methods could say anything
            raise TypeError("an extension name must be a str")
        own = f"{prefix}{self._namespace()}:"
        local = str.removeprefix(name, own)
        if _NAME.fullmatch(local):  # the whole name: "$" would let a trailing newline through
            return local
        if ":" in local:  # a foreign namespace: another plugin's or the core's (red-team item 25)
            exc = NamespaceViolation(self._plugin_id, "behavior", member, name)
            self._report(exc)
            raise exc
        raise ValueError(f"extension name {name!r} must be {_NAME.pattern} (ASCII, all of it)")

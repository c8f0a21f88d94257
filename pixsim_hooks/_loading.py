"""Finding plugins and deciding, before any plugin code runs, which of them may load and in what order."""

from __future__ import annotations

import graphlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pixsim_hooks._exceptions import DependencyError, ManifestError, PluginLoadError
from pixsim_hooks._manifest import Isolation, PluginManifest, ProcessRuntime, Trust, parse_manifest
from pixsim_hooks._settings import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "ISOLATED_ENTRY_POINT_GROUP",
    "Candidate",
    "ProcessPlugin",
    "RemotePlugin",
    "dependency_order",
    "discover",
    "policy_refusal",
]

ENTRY_POINT_GROUP = "pixsim_hooks.plugins"
ISOLATED_ENTRY_POINT_GROUP = "pixsim_hooks.isolated_plugins"
"""Entry points of plugins to run in a sandboxed child process: their value is never imported by the host."""


@dataclass(frozen=True, slots=True)
class ProcessPlugin:
    """Run a plugin in a sandboxed child process: the Python plugin at ``target`` (``"package.module"`` or
    ``"package.module:attr"``; the host never imports it), or a ``command`` in any language that speaks
    ``docs/plugin-protocol.md`` on the socket whose descriptor number it finds in ``PIXSIM_PROTOCOL_FD``
    (``readable`` adds what the command needs to the sandbox's read-only view). ``runtime`` overrides the
    manifest's ``process`` limits."""

    target: str | None = None
    runtime: ProcessRuntime | None = None
    command: tuple[str, ...] = ()
    readable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.target is None) == (not self.command):
            raise ValueError("a ProcessPlugin runs a Python target or a command: give exactly one")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "readable", tuple(self.readable))

    @property
    def label(self) -> str:
        return self.target if self.target is not None else " ".join(self.command)


@dataclass(frozen=True, slots=True)
class RemotePlugin:
    """A plugin served over HTTP, configured by the operator's copy of its manifest (``kind: remote``); that
    configuration (endpoint, secret) is its identity."""

    manifest: PluginManifest | Mapping[str, Any]


@dataclass(slots=True)
class Candidate:
    """A plugin found by discovery: its source, its object and manifest — or why it cannot load."""

    source: str
    obj: object | None = None
    manifest: PluginManifest | None = None
    error: PluginLoadError | None = None

    @property
    def id(self) -> str:
        return self.manifest.id if self.manifest is not None else self.source


def discover(
    explicit: Iterable[object], entry_points: Iterable[importlib.metadata.EntryPoint] | None
) -> list[Candidate]:
    """Explicitly given plugin objects first, then the ``pixsim_hooks.plugins`` entry points, then the
    ``pixsim_hooks.isolated_plugins`` ones (as :class:`ProcessPlugin`, not imported)."""
    if entry_points is None:
        entry_points = [
            *importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            *importlib.metadata.entry_points(group=ISOLATED_ENTRY_POINT_GROUP),
        ]
    found = [_candidate(f"explicit:{_name_of(obj)}", obj) for obj in explicit]
    for ep in entry_points:
        if ep.group == ISOLATED_ENTRY_POINT_GROUP:
            found.append(_candidate(ep.name, ProcessPlugin(ep.value)))
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # an import error quarantines this plugin only
            err = PluginLoadError(f"plugin {ep.name!r}: import of {ep.value!r} failed: {_describe(exc)}")
            err.plugin_id = ep.name
            found.append(Candidate(ep.name, error=err))
            continue
        found.append(_candidate(ep.name, obj))
    return found


def _candidate(source: str, obj: object) -> Candidate:
    if isinstance(obj, ProcessPlugin):  # its manifest comes from the child's welcome
        return Candidate(f"process:{obj.label}", obj)
    if isinstance(obj, RemotePlugin):
        try:
            manifest = parse_manifest(obj.manifest, source=source)
        except ManifestError as exc:
            return Candidate(exc.plugin_id or source, obj, error=PluginLoadError(str(exc), plugin_id=exc.plugin_id))
        return Candidate(manifest.id, obj, manifest)
    if isinstance(obj, type):  # a plugin class: one instance per host
        try:
            obj = obj()
        except Exception as exc:
            return Candidate(source, error=PluginLoadError(f"plugin {source!r}: instantiation failed: {exc}"))
    raw: Any = getattr(obj, "manifest", None)
    if raw is None:
        return Candidate(source, obj, error=PluginLoadError(f"plugin {source!r} has no `manifest` attribute"))
    try:
        return Candidate(source, obj, parse_manifest(raw, source=source))
    except ManifestError as exc:
        err = PluginLoadError(str(exc), plugin_id=exc.plugin_id)
        return Candidate(exc.plugin_id or source, obj, error=err)


def _name_of(obj: object) -> str:
    return str(getattr(obj, "__name__", None) or type(obj).__name__)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def policy_refusal(manifest: PluginManifest, settings: Settings, isolation: Isolation | None = None) -> str | None:
    """Why settings or the trust rule forbid loading this plugin here, or None. ``isolation`` is how the host will
    actually run it (a plugin may always be run more isolated than its manifest asks, never less)."""
    pid = manifest.id
    if pid in settings.plugins_deny:
        return "denied by PIXSIM_PLUGINS_DENY"
    if settings.plugins_allow is not None and pid not in settings.plugins_allow:
        return "not in PIXSIM_PLUGINS_ALLOW"
    trust = manifest.trust
    if settings.plugins_trusted is not None and pid not in settings.plugins_trusted:
        trust = Trust.COMMUNITY  # the operator has not vouched for this plugin: its own claim does not count
    if (isolation or manifest.isolation) is Isolation.IN_PROCESS and trust is Trust.COMMUNITY:
        return (
            "community plugins are never run in-process (in-process proxies stop mistakes, not malice); "
            "declare isolation 'process' or 'remote'"
        )
    return None


def dependency_order(manifests: Mapping[str, PluginManifest]) -> tuple[list[str], dict[str, DependencyError]]:
    """Order plugins dependencies-first. Plugins with missing or cyclic dependencies are returned as errors."""
    errors: dict[str, DependencyError] = {}
    for pid, manifest in manifests.items():
        missing = [d for d in manifest.dependencies if d not in manifests]
        if missing:
            errors[pid] = DependencyError(f"plugin {pid!r}: missing dependencies {missing}", plugin_id=pid)
    graph = {pid: set(m.dependencies) & manifests.keys() for pid, m in manifests.items()}
    while True:  # each round takes one cycle out: its members are refused, the rest is ordered again
        try:
            return list(graphlib.TopologicalSorter(graph).static_order()), errors
        except graphlib.CycleError as exc:
            path: list[str] = exc.args[1]
            for pid in set(path):
                errors[pid] = DependencyError(f"plugin {pid!r}: dependency cycle {' -> '.join(path)}", plugin_id=pid)
            graph = {pid: deps - set(path) for pid, deps in graph.items() if pid not in path}

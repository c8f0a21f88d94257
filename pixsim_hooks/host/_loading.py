"""Finding plugins and deciding, before any plugin code runs, which of them may load and in what order."""

from __future__ import annotations

import graphlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pixsim_hooks.host._settings import Settings
from pixsim_hooks.plugin import (
    DependencyError,
    Isolation,
    ManifestError,
    PluginLoadError,
    PluginManifest,
    ProcessRuntime,
    Trust,
    parse_manifest,
)
from pixsim_hooks.runtime import ProcessPlugin, RemotePlugin

__all__ = [
    "Candidate",
    "ENTRY_POINT_GROUP",
    "ISOLATED_ENTRY_POINT_GROUP",
    "dependency_order",
    "discover",
    "name_refusal",
    "vouched",
    "effective_isolation",
    "isolate",
    "policy_refusal",
]

ENTRY_POINT_GROUP = "pixsim_hooks.plugins"
ISOLATED_ENTRY_POINT_GROUP = "pixsim_hooks.isolated_plugins"
"""Entry points of plugins to run in a sandboxed child process: their value is never imported by the host."""


@dataclass(slots=True)
class Candidate:
    """A plugin found by discovery: its source, its object and manifest — or why it cannot load."""

    source: str
    obj: object | None = None
    manifest: PluginManifest | None = None
    error: PluginLoadError | None = None
    given: object | None = None  # the object as discovered (a plugin class before its instance was made)

    @property
    def id(self) -> str:
        return self.manifest.id if self.manifest is not None else self.source


HOST_DISTRIBUTION = "pixsim-hooks"
"""The distribution whose installed in-process plugins are vouched for when ``PIXSIM_PLUGINS_TRUSTED`` is unset."""


def discover(
    explicit: Iterable[object],
    entry_points: Iterable[importlib.metadata.EntryPoint] | None,
    settings: Settings,
) -> list[Candidate]:
    """Explicitly given plugin objects first, then the entry points of both groups.

    Policy comes before code (DESIGN.md decision 14): an entry point is judged by its name and its distribution
    before anything of it is imported. Denied or not allowed: refused, never imported. In the isolated group, or
    in the in-process group but not vouched for (:func:`vouched`): run out of process (:class:`ProcessPlugin`,
    the child imports it, the host never does). Only a vouched in-process entry point is imported here, and
    whatever its import or instantiation raises, ``BaseException`` included, is that plugin's failure."""
    if entry_points is None:
        entry_points = [
            *importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            *importlib.metadata.entry_points(group=ISOLATED_ENTRY_POINT_GROUP),
        ]
    found = [_candidate(f"explicit:{_name_of(obj)}", obj) for obj in explicit]
    for ep in entry_points:
        refusal = name_refusal(ep.name, settings)
        if refusal is not None:
            error = PluginLoadError(f"{refusal}; its code was never imported", plugin_id=ep.name)
            found.append(Candidate(ep.name, error=error))
        elif ep.group == ISOLATED_ENTRY_POINT_GROUP or not vouched(ep, settings):
            found.append(_candidate(ep.name, ProcessPlugin(ep.value)))
        else:
            found.append(_imported(ep))
    return found


def vouched(ep: importlib.metadata.EntryPoint, settings: Settings) -> bool:
    """May this in-process entry point's code be imported into the host? Named in ``PIXSIM_PLUGINS_TRUSTED``;
    or, with that unset, installed by pixsim-hooks itself, or handed to the host as an ``EntryPoint`` object by the
    embedder (no distribution: the embedder's own choice, like a plugin object it passes)."""
    if settings.plugins_trusted is not None:
        return ep.name in settings.plugins_trusted
    dist = getattr(ep, "dist", None)
    return dist is None or _normalized(dist.metadata["Name"] or "") == HOST_DISTRIBUTION


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def name_refusal(name: str, settings: Settings) -> str | None:
    """Why the deny or allow list refuses a plugin of this id (or entry point name), or None."""
    if name in settings.plugins_deny:
        return "denied by PIXSIM_PLUGINS_DENY"
    if settings.plugins_allow is not None and name not in settings.plugins_allow:
        return "not in PIXSIM_PLUGINS_ALLOW"
    return None


def _imported(ep: importlib.metadata.EntryPoint) -> Candidate:
    try:
        obj = ep.load()
    except BaseException as exc:  # an import error (or a SystemExit at import) quarantines this plugin only
        err = PluginLoadError(f"plugin {ep.name!r}: import of {ep.value!r} failed: {_describe(exc)}")
        err.plugin_id = ep.name
        err.__cause__ = exc  # its traceback, for the log (the plugin's own file and line)
        return Candidate(ep.name, error=err)
    return _candidate(ep.name, obj)


def _candidate(source: str, obj: object) -> Candidate:
    try:
        return _read_candidate(source, obj)
    except BaseException as exc:  # a property, a class body, an __init__ or a manifest that raises: its failure
        err = PluginLoadError(f"plugin {source!r}: {_describe(exc)}")
        err.__cause__ = exc
        return Candidate(source, error=err)


def _read_candidate(source: str, obj: object) -> Candidate:
    if isinstance(obj, ProcessPlugin):  # its manifest comes from the child's welcome
        return Candidate(f"process:{obj.label}", obj)
    if isinstance(obj, RemotePlugin):
        try:
            manifest = parse_manifest(obj.manifest, source=source)
        except ManifestError as exc:
            return Candidate(exc.plugin_id or source, obj, error=PluginLoadError(str(exc), plugin_id=exc.plugin_id))
        return Candidate(manifest.id, obj, manifest)
    given = obj
    if isinstance(obj, type):  # a plugin class: one instance per host
        try:
            obj = obj()
        except BaseException as exc:
            err = PluginLoadError(f"plugin {source!r}: instantiation failed: {_describe(exc)}")
            err.__cause__ = exc
            return Candidate(source, error=err)
    raw: Any = getattr(obj, "manifest", None)
    if raw is None:
        return Candidate(source, obj, error=PluginLoadError(f"plugin {source!r} has no `manifest` attribute"))
    try:
        return Candidate(source, obj, parse_manifest(raw, source=source), given=given)
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
    refusal = name_refusal(pid, settings)
    if refusal is not None:
        return refusal
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


def target_of(obj: object) -> str:
    """``module:attr`` of an already imported plugin object (a module, a class or a module-level instance)."""
    if isinstance(obj, ModuleType):
        return obj.__name__
    if isinstance(obj, type):
        return f"{obj.__module__}:{obj.__qualname__}"
    module = type(obj).__module__
    for name, value in vars(__import__(module, fromlist=["_"])).items():
        if value is obj:
            return f"{module}:{name}"
    raise PluginLoadError(f"plugin object {obj!r} cannot be found again by module:attr to run in a child process")


def isolate(candidate: Candidate) -> None:
    """An in-process plugin object whose manifest asks for process or remote isolation is not run in-process:
    it is replaced by the descriptor that runs it as it asks."""
    manifest, obj = candidate.manifest, candidate.obj
    if candidate.error is not None or manifest is None or isinstance(obj, ProcessPlugin | RemotePlugin):
        return
    if manifest.isolation is Isolation.PROCESS:
        try:
            # What the manifest asks for, never above the defaults: a plugin does not raise its own limits.
            asked = manifest.process.within(ProcessRuntime()) if manifest.process is not None else None
            candidate.obj = ProcessPlugin(target_of(candidate.given or obj), asked)
        except PluginLoadError as exc:
            candidate.error = exc
    elif manifest.isolation is Isolation.REMOTE:
        candidate.obj = RemotePlugin(manifest)


def effective_isolation(candidate: Candidate) -> Isolation | None:
    """How the host will run this candidate, when it differs from in-process."""
    if isinstance(candidate.obj, ProcessPlugin):
        return Isolation.PROCESS
    if isinstance(candidate.obj, RemotePlugin):
        return Isolation.REMOTE
    return None

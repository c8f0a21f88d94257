"""``PluginHost``: the pluggy manager, the plugins' lifecycle and states, and the services their contexts use.

Build one with :func:`create_host` (there is no module-level manager), then ``await host.load()``. A plugin whose
import, manifest, dependencies, registration, ``on_load``, ``register_behavior`` or ``on_enable`` fails is
quarantined with the reason; the other plugins load.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import socket
import traceback
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pluggy
import structlog

import hookspecs
from hookspecs import PROJECT_NAME, contract_of
from pixsim_hooks.host._breaker import Breakers
from pixsim_hooks.host._control import ControlPlane, Failing, LocalControlPlane, SharedFailure, SharedWord
from pixsim_hooks.host._dispatch import Dispatcher, HookCaller, HookRelay, outcome_of
from pixsim_hooks.host._health import HealthBook, Outcome
from pixsim_hooks.host._loading import (
    Candidate,
    dependency_order,
    discover,
    effective_isolation,
    isolate,
    name_refusal,
    policy_refusal,
)
from pixsim_hooks.host._settings import Settings
from pixsim_hooks.host._unattached import UnattachedStorage
from pixsim_hooks.host._world import WorldScope
from pixsim_hooks.plugin import (
    CORE_PLUGIN_ID,
    BehaviorEntry,
    BehaviorExtensionAPI,
    BehaviorRegistry,
    ContextServices,
    CoreError,
    Isolation,
    NotFoundError,
    Permission,
    PermissionDenied,
    PluginContext,
    PluginLoadError,
    PluginManifest,
    PluginNotEnabled,
    Storage,
    UnknownPluginError,
    build_context,
    plugin_traceback,
    resolve_permissions,
)
from pixsim_hooks.runtime import IsolatedPlugin, ProcessPlugin, RemotePlugin, start_isolated
from pixsim_hooks.telemetry import Telemetry

__all__ = ["PluginHost", "PluginInfo", "PluginState", "create_host"]

_log = structlog.get_logger("pixsim_hooks.host")


def _core_error(plugin_id: str, exc: BaseException) -> None:
    """The host's storage failed under a plugin's capability call: the core's error, logged whole here (the plugin
    gets a bare ``CoreError``). The traceback as text: a renderer showing locals would read the plugin's proxies."""
    trace = "".join(traceback.format_exception(exc))
    _log.error(
        "the storage failed under a plugin's call", plugin_id=plugin_id, error_type=type(exc).__name__, traceback=trace
    )


_HOST_OWNED = ("on_load", "register_behavior", "on_enable", "on_disable")


class PluginState(StrEnum):
    LOADED = "loaded"  # registered and on_load done; not yet enabled
    ENABLED = "enabled"
    DISABLED = "disabled"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A read-only view of one plugin as the host sees it (for admin APIs, the CLI and tests)."""

    id: str
    source: str
    state: PluginState
    reason: str | None
    manifest: PluginManifest | None
    permissions: tuple[str, ...]
    unknown_permissions: tuple[str, ...]
    ignored_hooks: tuple[str, ...]


@dataclass(slots=True)
class _Entry:
    candidate: Candidate
    state: PluginState = PluginState.QUARANTINED
    reason: str | None = None
    permissions: frozenset[Permission] = frozenset()
    unknown: tuple[str, ...] = ()
    ignored_hooks: set[str] = field(default_factory=set)
    ctx: PluginContext | None = None


def create_host(
    settings: Settings | None = None,
    *,
    storage: Storage | None = None,
    plugins: Iterable[object] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    control: ControlPlane | None = None,
) -> PluginHost:
    """Build a host. ``plugins`` are registered explicitly; ``entry_points`` default to the installed
    ``pixsim_hooks.plugins`` group (pass ``[]`` for none). Call ``await host.load()`` next.

    ``control`` is how the operator's word on each plugin reaches the other processes of the deployment: by default
    Redis when ``settings.redis_url`` is set, else nobody (one process)."""
    settings = settings or Settings()
    control = control or control_plane(settings)
    return PluginHost(
        settings, storage or UnattachedStorage(), list(plugins), entry_points, tracer_provider, meter_provider, control
    )


def control_plane(settings: Settings) -> ControlPlane:
    """The control plane ``settings`` ask for: Redis with ``redis_url``, else this process alone."""
    replica = settings.replica_id or f"{socket.gethostname()}:{os.getpid()}"
    if settings.redis_url is None:
        return LocalControlPlane(replica)
    # Imported here: redis-py is an optional dependency, needed only by a deployment of several processes.
    from pixsim_hooks.host._redis_control import RedisControlPlane

    return RedisControlPlane(
        settings.redis_url,
        replica=replica,
        reconcile_s=settings.control_reconcile_s,
        breaker_cooldown_s=settings.breaker_cooldown_s,
    )


class PluginHost:
    """Loads plugins, owns their contexts and states, and dispatches hooks (``host.hook.<name>``)."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        explicit: list[object],
        entry_points: Iterable[importlib.metadata.EntryPoint] | None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        control: ControlPlane | None = None,
    ) -> None:
        self.settings = settings
        self.control: ControlPlane = control or LocalControlPlane(f"{socket.gethostname()}:{os.getpid()}")
        self._joined = False  # the control plane started: quarantines from here on are the deployment's
        self.telemetry = Telemetry(
            tracing=settings.tracing,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            # list(): the metric reader may run this in its own thread while dispatch adds entries
            calls_by_impl=lambda: [(pid, hook, st.calls) for (pid, hook), st in list(self.dispatcher.stats.items())],
        )
        self.health = HealthBook(self.telemetry, window_s=settings.health_window_s, calls_of=self._calls_of)
        self.breakers = Breakers(
            threshold=settings.breaker_threshold,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
            on_transition=lambda pid, wid, old, new: self.telemetry.count_breaker(pid, wid, new.value),
            on_local_open=self._breaker_opened,
        )
        self.behavior = BehaviorRegistry()
        self._storage = storage
        self._explicit = explicit
        self._entry_points = entry_points
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._isolated: dict[str, IsolatedPlugin] = {}  # out-of-process plugins by id
        self._background: set[asyncio.Task[object]] = set()
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        for module in hookspecs.SPEC_MODULES:
            self.pm.add_hookspecs(module)
        self.dispatcher = Dispatcher(
            self.pm,
            participant=self.dispatch_context,
            isolated=lambda pid: pid in self._isolated,
            breakers=self.breakers,
            telemetry=self.telemetry,
            record_failure=self.record_failure,
            deadline_ms=settings.hook_deadline_ms,
            trace_sample=settings.tracing_sample,
        )
        self._callers = {name: self._caller(name) for name in self._spec_names()}
        self.hook = HookRelay({n: c for n, c in self._callers.items() if n not in _HOST_OWNED})
        self._services = ContextServices(
            storage=storage,
            check_world=self._check_world,
            registry=self.behavior,
            logger_for=lambda pid: structlog.get_logger("pixsim_hooks.plugin").bind(plugin_id=pid),
            on_denied=self.health.record_denial,
            on_core_error=_core_error,
        )

    # -- accounting -------------------------------------------------------------------------------------------
    def call_counts(self) -> dict[tuple[str, str], int]:
        """Successful calls by (plugin id, hook or extension kind), since start."""
        return {key: st.calls for key, st in sorted(self.dispatcher.stats.items())}

    def _calls_of(self, plugin_id: str) -> int:
        return sum(st.calls for (pid, _), st in list(self.dispatcher.stats.items()) if pid == plugin_id)

    def _changed(self) -> None:
        """What dispatch plans depend on (registrations, enablement) changed: they are rebuilt on next use."""
        self.dispatcher.generation += 1

    def record_failure(
        self, plugin_id: str, where: str, outcome: Outcome, exc: BaseException, world_id: int | None = None
    ) -> None:
        """One failure of one plugin: health, metrics and logs, and its circuit breaker for that world.

        A :class:`CoreError` is none: the host's storage failed under the plugin's call (its cause logged whole where
        it happened); the caller falls back as for a failure, but nothing is counted against the plugin."""
        if type(exc) is CoreError:
            _log.error("core error under a plugin's call; fallback applied", plugin_id=plugin_id, hook=where)
            return
        record = self.health.record_failure(plugin_id, where, outcome, exc, world_id)
        shared = SharedFailure(
            self.control.replica, where, outcome.value, record.exc_type, record.message, world_id, record.at
        )
        self.control.share_failure(plugin_id, shared)  # the deployment's health window
        if world_id is not None:
            self.breakers.record_failure(plugin_id, world_id)

    # -- construction helpers ---------------------------------------------------------------------------------
    def _spec_names(self) -> list[str]:
        return [name for module in hookspecs.SPEC_MODULES for name in module.__all__]

    def _caller(self, name: str) -> HookCaller:
        spec = getattr(self.pm.hook, name).spec
        return HookCaller(self.dispatcher, name, contract_of(spec.function), spec.argnames)

    # -- loading ----------------------------------------------------------------------------------------------
    async def load(self) -> None:
        """Discover, check and load every plugin; failures quarantine only the plugin concerned."""
        accepted: dict[str, Candidate] = {}
        for candidate in discover(self._explicit, self._entry_points, self.settings):
            isolate(candidate)
            runs = effective_isolation(candidate)  # decided before it starts: its stand-in then replaces it
            isolated = await self._start_isolated(candidate) if runs is not None else None
            refusal = self._refusal(candidate, accepted, runs)
            if refusal is not None:
                if isolated is not None:
                    await isolated.stop()
                self._remember(candidate, refusal, accepted)
            else:
                accepted[candidate.id] = candidate
                if isolated is not None:
                    self._isolated[candidate.id] = isolated
        order, dependency_errors = dependency_order({pid: c.manifest for pid, c in accepted.items()})  # type: ignore[misc]
        in_cycles = [pid for pid in dependency_errors if pid not in order]
        for pid in order + in_cycles:
            error = dependency_errors.get(pid) or self._dependency_problem(accepted[pid])
            if error is not None:
                self._remember(accepted[pid], error, {})
                continue
            self._order.append(pid)
            await self._load_one(accepted[pid])
        self.pm.check_pending()  # every impl still registered matches a hookspec
        # The deployment's words win over the defaults; its breakers open here once a quorum of processes voted.
        await self.control.start(self._apply_shared, self._states, self._open_shared_breaker)
        self._joined = True

    def _refusal(self, candidate: Candidate, accepted: dict[str, Candidate], runs: Isolation | None) -> str | None:
        if candidate.error is not None:
            return str(candidate.error)
        assert candidate.manifest is not None
        if candidate.id in accepted or candidate.id in self._entries:
            return f"plugin {candidate.id!r}: another plugin with this id is already loaded ({candidate.source})"
        return policy_refusal(candidate.manifest, self.settings, runs)

    async def _start_isolated(self, candidate: Candidate) -> IsolatedPlugin | None:
        """Start an out-of-process plugin (a process plugin's manifest comes from its welcome)."""
        if candidate.manifest is not None and name_refusal(candidate.manifest.id, self.settings) is not None:
            return None  # denied or not allowed by the operator: not even started
        descriptor = candidate.obj
        assert isinstance(descriptor, ProcessPlugin | RemotePlugin)
        try:
            started = await start_isolated(
                descriptor,
                candidate.source,
                self.settings.runtime_limits(),
                on_denied=self.health.record_denial,
                on_crash_loop=lambda reason: self._quarantine(candidate.id, reason),
                on_failure=lambda where, exc: self.record_failure(candidate.id, where, outcome_of(exc), exc),
            )
        except PluginLoadError as exc:
            candidate.error = exc
            return None
        candidate.manifest, candidate.obj = started.manifest, started.stand_in
        return started.isolated

    def _dependency_problem(self, candidate: Candidate) -> str | None:
        assert candidate.manifest is not None
        for dep in candidate.manifest.dependencies:
            entry = self._entries.get(dep)
            if entry is None or entry.state is PluginState.QUARANTINED:
                return f"plugin {candidate.id!r}: dependency {dep!r} is not available"
        return None

    def _remember(self, candidate: Candidate, reason: str | BaseException, accepted: dict[str, Candidate]) -> None:
        """Record a plugin refused before loading. A duplicate id is keyed ``<id>@<source>``: the first keeps it."""
        taken = candidate.id in self._entries or accepted.get(candidate.id, candidate) is not candidate
        key = f"{candidate.id}@{candidate.source}" if taken else candidate.id
        self._entries[key] = _Entry(candidate, PluginState.QUARANTINED, str(reason))
        failure = candidate.error.__cause__ if candidate.error is not None else None  # the plugin's own exception
        shown = {"traceback": plugin_traceback(failure)} if failure is not None else {}
        _log.error("plugin quarantined", plugin_id=candidate.id, source=candidate.source, reason=str(reason), **shown)

    async def _load_one(self, candidate: Candidate) -> None:
        assert candidate.manifest is not None
        pid = candidate.id
        permissions, unknown = resolve_permissions(candidate.manifest.permissions)
        entry = _Entry(candidate, PluginState.LOADED, permissions=permissions, unknown=unknown)
        self._entries[pid] = entry
        if unknown:
            _log.warning("plugin asks for unknown permissions; they grant nothing", plugin_id=pid, unknown=unknown)
        try:
            self.pm.register(candidate.obj, name=pid)
        except BaseException as exc:  # pluggy reads the plugin's attributes: its code may raise anything
            self._quarantine(pid, f"registration failed: {exc}", exc)
            return
        problem = self._check_impls(pid, entry)
        if problem is not None:
            self._quarantine(pid, problem)
            return
        entry.ctx = build_context(candidate.manifest, permissions, self._services)
        isolated = self._isolated.get(pid)
        if isolated is not None:
            try:
                await isolated.prepare(pid, sorted(p.value for p in permissions), entry.ctx)
            except Exception as exc:
                self._quarantine(pid, f"its process could not be started: {type(exc).__name__}: {exc}")
                return
        for hook in ("on_load", "register_behavior"):
            if not await self._lifecycle(pid, hook):
                return
        if pid in self.settings.plugins_disabled:
            entry.state = PluginState.DISABLED
        else:
            await self._enable(pid)

    def _check_impls(self, pid: str, entry: _Entry) -> str | None:
        for caller in self.pm.get_hookcallers(entry.candidate.obj) or ():
            if caller.spec is None:
                return f"plugin {pid!r} implements unknown hook {caller.name!r}"
            impl = next(i for i in caller.get_hookimpls() if i.plugin_name == pid)
            if impl.hookwrapper or impl.wrapper:
                return f"plugin {pid!r}: hook wrappers are not allowed ({caller.name!r}); each impl runs isolated"
            contract = contract_of(caller.spec.function)
            if contract.permission is not None and contract.permission not in entry.permissions:
                entry.ignored_hooks.add(caller.name)
                denial = PermissionDenied(pid, contract.permission, "hook", caller.name)
                self.health.record_denial(denial)
        return None

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def _lifecycle(self, pid: str, hook: str) -> bool:
        """Run one host-owned hook for one plugin, isolated (the one dispatch loop records a failure). On
        failure quarantine it and return False."""
        failure = await self._callers[hook].call_plugin(pid, self._entries[pid].ctx)
        if failure is None:
            return True
        self._quarantine(pid, f"{hook} failed: {type(failure).__name__}: {failure}")  # logged whole by dispatch
        return False

    async def _enable(self, pid: str) -> None:
        if await self._lifecycle(pid, "on_enable"):
            self._entries[pid].state = PluginState.ENABLED
            self._changed()

    def _quarantine(self, pid: str, reason: str, failure: BaseException | None = None, *, share: bool = True) -> None:
        entry = self._entries[pid]
        entry.state, entry.reason = PluginState.QUARANTINED, reason
        if self.pm.get_plugin(pid) is not None:
            self.pm.unregister(name=pid)
        self.behavior.withdraw(pid)
        self._changed()
        shown = {"traceback": plugin_traceback(failure)} if failure is not None else {}
        _log.error("plugin quarantined", plugin_id=pid, reason=reason, **shown)
        isolated = self._isolated.get(pid)
        if isolated is not None:  # its process goes too (it is started again if the operator re-enables it)
            self._in_background(isolated.stop())
        if share and self._joined:  # at run time (a crash loop, a failing lifecycle hook): the deployment's word
            self._in_background(self.control.publish(pid, SharedWord("quarantined", reason, by=self.control.replica)))

    def _in_background(self, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` from code that cannot wait for it; :meth:`shutdown` waits for what is still running."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def enable(self, plugin_id: str) -> PluginInfo:
        """Enable a plugin globally, in every process of the deployment, and close its circuit breakers. A
        quarantined plugin is loaded again from scratch (it may fail again)."""
        info = await self._enable_here(plugin_id)
        if info.state is PluginState.ENABLED:  # else it failed again: its quarantine is the word (_quarantine)
            await self.control.clear_breakers(plugin_id)  # its breakers start afresh in every process
            await self.control.publish(plugin_id, SharedWord("enabled", by=self.control.replica))
        return info

    async def disable(self, plugin_id: str) -> PluginInfo:
        """Disable a plugin globally, in every process of the deployment: it leaves every dispatch at once;
        ``on_disable`` runs after."""
        info = await self._disable_here(plugin_id)
        await self.control.publish(plugin_id, SharedWord("disabled", by=self.control.replica))
        return info

    async def _apply_shared(self, plugin_id: str, word: SharedWord) -> None:
        """Make a word another process published hold here (never published again from here)."""
        entry = self._entries.get(plugin_id)
        if entry is None:
            return  # not installed in this process: nothing to do
        try:
            if word.state == "disabled":
                await self._disable_here(plugin_id)
            elif word.state == "enabled":
                self.breakers.reset(plugin_id)  # the operator's word closes its breakers everywhere
                if entry.state is not PluginState.ENABLED:
                    await self._enable_here(plugin_id)
            elif word.state == "quarantined" and entry.state is not PluginState.QUARANTINED:
                self._quarantine(plugin_id, f"quarantined in {word.by}: {word.reason}", share=False)
        except PluginLoadError as exc:  # it cannot be loaded here (refused at load): this process keeps its refusal
            _log.warning("shared plugin word not applied here", plugin_id=plugin_id, word=word.state, error=str(exc))

    def _breaker_opened(self, plugin_id: str, world_id: int) -> None:
        """This process's breaker opened on the plugin's own failures: its vote for the deployment's breaker."""
        if self._joined:
            self._in_background(self.control.vote_breaker(plugin_id, world_id))

    def _open_shared_breaker(self, plugin_id: str, world_id: int) -> None:
        if plugin_id in self._entries and self.breakers.open_shared(plugin_id, world_id):
            _log.warning("plugin circuit breaker opened by the deployment", plugin_id=plugin_id, world_id=world_id)

    def _states(self) -> tuple[dict[str, str], dict[str, Failing]]:
        """This process's report to the deployment: each plugin's state, and those failing within the health window
        (its failures and calls there, and its last failure)."""
        failing = {}
        for pid in self._entries:
            view = self.health.view(pid)
            if view.window_failures:
                last = view.recent[-1] if view.recent else None
                shown = f"{last.where}: {last.exc_type}" if last is not None else ""
                failing[pid] = Failing(view.window_failures, view.window_calls, shown[:300])
        return {pid: entry.state.value for pid, entry in self._entries.items()}, failing

    async def _enable_here(self, plugin_id: str) -> PluginInfo:
        entry = self._entry(plugin_id)
        self._audit_manifest(plugin_id, entry)
        self.breakers.reset(plugin_id)  # the operator's word: every world gets the plugin back at once
        if entry.state is PluginState.QUARANTINED:
            if plugin_id not in self._order or entry.candidate.manifest is None:
                raise PluginLoadError(f"plugin {plugin_id!r} cannot be enabled: {entry.reason}", plugin_id=plugin_id)
            await self._load_one(entry.candidate)
        elif entry.state is not PluginState.ENABLED:
            await self._enable(plugin_id)
        return self.plugin(plugin_id)

    async def _disable_here(self, plugin_id: str) -> PluginInfo:
        entry = self._entry(plugin_id)
        self._audit_manifest(plugin_id, entry)
        if entry.state is PluginState.ENABLED:
            entry.state = PluginState.DISABLED
            self._changed()
            await self._lifecycle(plugin_id, "on_disable")
        return self.plugin(plugin_id)

    async def shutdown(self) -> None:
        """Disable every plugin here (``on_disable`` runs), stop every plugin process and leave the deployment."""
        joined, self._joined = self._joined, False  # from here on nothing this process does is the deployment's word
        for pid in reversed(self._order):
            if self._entries[pid].state is PluginState.ENABLED:
                await self._disable_here(pid)  # this process stopping is no word on the plugin for the others
        for isolated in self._isolated.values():
            await isolated.stop()
        if self._background:  # a quarantine's word still being published among them: it goes out before we leave
            await asyncio.gather(*self._background, return_exceptions=True)
        if joined:
            await self.control.close()

    def runs_as(self, plugin_id: str) -> str:
        """How a plugin runs: ``in_process``, ``process (<sandbox>)`` or ``remote (<endpoint>)`` (for operators)."""
        isolated = self._isolated.get(plugin_id)
        return "in_process" if isolated is None else isolated.transport.describe()

    def isolated(self, plugin_id: str) -> IsolatedPlugin | None:
        """The out-of-process runtime of a plugin (host-side glue, tests and the admin), or None."""
        return self._isolated.get(plugin_id)

    def _audit_manifest(self, pid: str, entry: _Entry) -> None:
        """A plugin that rewrote its manifest after load keeps the approved one; the attempt is recorded."""
        approved = entry.candidate.manifest
        try:  # the plugin's object: reading it runs plugin code (a property), compared only as plain data
            current = getattr(entry.candidate.obj, "manifest", None)
            if approved is None or current is None:
                return
            current_data = current.model_dump() if type(current) is PluginManifest else current
            rewritten = type(current_data) is not dict or current_data != approved.model_dump()
        except BaseException:
            rewritten = True
        if rewritten:
            self.health.record_denial(PermissionDenied(pid, None, "manifest", "rewrite"))

    @property
    def load_order(self) -> tuple[str, ...]:
        """Ids of the plugins that passed the pre-load checks, dependencies first."""
        return tuple(self._order)

    @property
    def storage(self) -> Storage:
        """The game storage the host's capabilities read and write (host-side glue only; never given to plugins)."""
        return self._storage

    # -- queries ----------------------------------------------------------------------------------------------
    def _entry(self, plugin_id: str) -> _Entry:
        try:
            return self._entries[plugin_id]
        except KeyError:
            raise UnknownPluginError(f"no plugin {plugin_id!r}", plugin_id=plugin_id) from None

    def plugin(self, plugin_id: str) -> PluginInfo:
        entry = self._entry(plugin_id)
        return PluginInfo(
            id=plugin_id,
            source=entry.candidate.source,
            state=entry.state,
            reason=entry.reason,
            manifest=entry.candidate.manifest,
            permissions=tuple(sorted(p.value for p in entry.permissions)),
            unknown_permissions=entry.unknown,
            ignored_hooks=tuple(sorted(entry.ignored_hooks)),
        )

    def plugins(self) -> list[PluginInfo]:
        return [self.plugin(pid) for pid in sorted(self._entries)]

    def context(self, plugin_id: str) -> PluginContext:
        """The plugin's context, for host-side glue (route dependencies). Only for enabled plugins."""
        entry = self._entry(plugin_id)
        if entry.state is not PluginState.ENABLED or entry.ctx is None:
            raise PluginNotEnabled(plugin_id, None, f"the plugin is {entry.state.value}")
        return entry.ctx

    def dispatch_context(self, plugin_id: str, hook: str) -> PluginContext | None:
        """The context to call ``plugin_id``'s impl of ``hook`` with, or None when it must not take part."""
        entry = self._entries.get(plugin_id)
        if entry is None or entry.state is not PluginState.ENABLED or hook in entry.ignored_hooks:
            return None
        return entry.ctx

    def call_extension(
        self, entry: BehaviorEntry, *args: Any, fallback: Any, world: WorldScope | None = None
    ) -> Awaitable[Any]:
        """Call a registered behavior extension as ``fn(ctx, *args)``, isolated like a hookimpl (the same loop).

        A plugin that is not enabled (globally or for ``world``), or whose breaker for that world is open, is not
        called; a failure, denial or missed deadline is recorded against the plugin and ``fallback`` returned
        (condition → False, scoring → 1.0, ...). Core built-ins are never filtered.
        """
        return self.dispatcher.call_extension(entry, args, fallback, world)  # its coroutine: no second layer

    def core_behavior(self) -> BehaviorExtensionAPI:
        """The BehaviorExtensionAPI of PixSim's own built-ins (namespace ``core``), for the backend to register
        them the same way plugins register theirs. Their functions are called with ``ctx=None``."""
        return BehaviorExtensionAPI(CORE_PLUGIN_ID, self.behavior, self.health.record_denial)

    def world_scope(self, world_id: int | None, meta: Any) -> WorldScope:
        return WorldScope.from_meta(world_id, meta)

    async def _check_world(self, plugin_id: str, world_id: int) -> None:
        entry = self._entries.get(plugin_id)
        if entry is None or entry.state is not PluginState.ENABLED:
            self._deny_world(plugin_id, world_id, "globally disabled")
        world = await self._storage.worlds.get_world(world_id)
        if world is None:
            raise NotFoundError(f"world {world_id} does not exist")
        if not WorldScope.from_meta(world_id, world.meta).allows(plugin_id):
            self._deny_world(plugin_id, world_id, "not enabled for this world")

    def _deny_world(self, plugin_id: str, world_id: int, why: str) -> None:
        exc = PluginNotEnabled(plugin_id, world_id, why)
        self.health.record_denial(exc)
        raise exc

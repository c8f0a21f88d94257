"""The harness a plugin's tests drive: the backend app with the plugins under test, run as one tier says.

:class:`Harness` is what the ``pixsim`` fixture hands a test. It starts the reference backend (its app, its plugin
host, its store on a fresh SQLite file) with exactly the plugins under test and no installed entry points, run
in-process, in a sandboxed child or behind HTTP; it builds demo data, calls the plugins' hooks and behavior
extensions through the host (the plugin's real context, world scoping, isolation and fallbacks), reads back what
they wrote and what the host recorded against them. There is one host: routes, hooks and extensions all go through
it, so what a route's failure records is what :meth:`Harness.failures` reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from pixsim_hooks.backend import SqlStorage, create_app
from pixsim_hooks.backend.behavior import TickReport, tick, time_of_day
from pixsim_hooks.host import FailureRecord, HealthView, Outcome, PluginHost, PluginInfo, PluginState, Settings
from pixsim_hooks.plugin import (
    EffectWriter,
    ExtensionKind,
    NpcSnapshot,
    NpcView,
    SessionSnapshot,
    WorldSnapshot,
    thaw,
    writer_proxies,
)
from pixsim_hooks.testing._isolation import TierPlugins, manifest_of
from pixsim_hooks.testing._tiers import Tier

__all__ = ["DEFAULT", "EffectWrites", "Harness"]


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""``world(enabled=DEFAULT)``: the world enables exactly the plugins under test."""

_FAILED = object()  # the fallback passed to the host: tells a failed call from a legitimate False / 1.0
BASE_URL = "http://pixsim.test"


@dataclass(frozen=True, slots=True)
class EffectWrites:
    """What one effect call staged: its flags by the plugin's own (un-namespaced) key, and relationship deltas
    (``"npc:<id>"`` → metric → summed delta). The tick would apply exactly these."""

    flags: Mapping[str, Any]
    relationships: Mapping[str, Mapping[str, float]]


def _hook_name(event: object) -> str:
    """``SessionCreated`` → ``on_session_created``: each event type has its hook."""
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


class Harness:
    """The backend with the plugins under test, run as :attr:`tier` says (``async with`` starts and stops it).

    ``plugins`` are the plugin objects (modules, classes, instances) under test; ``settings`` are fields of
    :class:`~pixsim_hooks.host.Settings` (``hook_deadline_ms=...``); the database is a fresh SQLite file in
    ``directory``. Where a plugin id is asked for (``plugin=``), the default is the one plugin under test.
    """

    def __init__(
        self, plugins: Sequence[object], tier: Tier, directory: Path, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.tier = tier
        self.plugins = tuple(plugins)
        self.plugin_ids = tuple(m.id for m in map(manifest_of, self.plugins) if m is not None)
        self._directory = directory
        self._settings = dict(settings or {})
        self._stack = AsyncExitStack()
        self._app: FastAPI | None = None
        self._client: httpx.AsyncClient | None = None

    # -- life -------------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Harness:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        wrapped = TierPlugins(self.tier)
        self._stack.callback(wrapped.close)  # runs last: the servers outlive the host that talks to them
        database = f"sqlite+aiosqlite:///{self._directory / 'pixsim.sqlite3'}"
        settings = Settings(**{"database_url": database, **self._settings})
        app = create_app(settings, plugins=wrapped.wrap(self.plugins), entry_points=[])
        await self._stack.enter_async_context(app.router.lifespan_context(app))  # loads the host; shuts it down
        transport = httpx.ASGITransport(app=app)
        self._client = await self._stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        self._app = app

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    # -- what runs ------------------------------------------------------------------------------------------------
    @property
    def app(self) -> FastAPI:
        """The backend's FastAPI app (its lifespan running)."""
        if self._app is None:
            raise RuntimeError("the harness is not running (use it inside `async with`)")
        return self._app

    @property
    def host(self) -> PluginHost:
        """The loaded plugin host of the app: the plugins under test, nothing installed."""
        host: PluginHost = self.app.state.host
        return host

    @property
    def storage(self) -> SqlStorage:
        """The backend's store on this test's SQLite file (what the plugins' capabilities read and write)."""
        storage: SqlStorage = self.app.state.storage
        return storage

    @property
    def client(self) -> httpx.AsyncClient:
        """An HTTP client of the app, in this process: ``await pixsim.client.get("/api/v1/worlds/1")``."""
        if self._client is None:
            raise RuntimeError("the harness is not running (use it inside `async with`)")
        return self._client

    @property
    def plugin_id(self) -> str:
        """The id of the one plugin under test (an error when there are several: name one with ``plugin=``)."""
        if len(self.plugin_ids) != 1:
            raise ValueError(f"{len(self.plugin_ids)} plugins are under test ({self.plugin_ids}): pass plugin=")
        return self.plugin_ids[0]

    def url(self, path: str, *, plugin: str | None = None) -> str:
        """The path of one of the plugin's routes: ``url("/status")`` → ``/api/v1/plugins/<id>/status``."""
        return f"/api/v1/plugins/{plugin or self.plugin_id}{path}"

    # -- demo data ------------------------------------------------------------------------------------------------
    async def world(
        self, *, enabled: Sequence[str] | None = DEFAULT, meta: Mapping[str, Any] | None = None, name: str = "Harbor"
    ) -> WorldSnapshot:
        """A world whose ``meta.behavior.enabledPlugins`` is ``enabled``: by default the plugins under test, None
        for no such key (every enabled plugin takes part), a list for exactly those. ``meta`` is the rest of the
        world's meta (an ``enabledPlugins`` of its own wins over the default)."""
        data = thaw(meta or {})
        behavior = data.setdefault("behavior", {"version": 2})
        if enabled is DEFAULT:
            behavior.setdefault("enabledPlugins", list(self.plugin_ids))
        elif enabled is None:
            behavior.pop("enabledPlugins", None)
        else:
            behavior["enabledPlugins"] = list(enabled)
        return await self.storage.worlds.create_world(name, data)

    async def npc(
        self, world: WorldSnapshot | int, *, name: str = "Ana", meta: Mapping[str, Any] | None = None
    ) -> NpcSnapshot:
        """An NPC in ``world``."""
        return await self.storage.npcs.create_npc(_id(world), name, meta or {})

    async def session(
        self,
        world: WorldSnapshot | int,
        *,
        flags: Mapping[str, Any] | None = None,
        relationships: Mapping[str, Any] | None = None,
        world_time: float = 0.0,
    ) -> SessionSnapshot:
        """A game session in ``world``."""
        sessions = self.storage.sessions
        return await sessions.create_session(
            _id(world), flags=flags, relationships=relationships, world_time=world_time
        )

    async def tick(self, session: SessionSnapshot | int, seconds: float = 60.0, *, seed: int = 0) -> TickReport:
        """A real behavior tick of the session: every NPC of its world decides, the plugins' extensions take part."""
        return await tick(self.host, self.storage, _id(session), seconds, seed=seed)

    # -- calling the plugin -----------------------------------------------------------------------------------------
    async def call_hook(self, name: str, *, world: WorldSnapshot | int | None = None, **arguments: Any) -> list[Any]:
        """Call hook ``name`` through the host's dispatch (as the backend does): each plugin with its own context,
        isolated; the non-None answers of those that succeeded. ``world`` scopes the call to the plugins that world
        enables."""
        scope = None if world is None else await self._scope(world)
        caller = getattr(self.host.hook, name)
        results: list[Any] = await caller(world=scope, **arguments)
        await self.settle()
        return results

    async def settle(self) -> None:
        """Wait until every event queued for an out-of-process plugin was delivered (a remote plugin's events are
        fire-and-forget: the hook call returns before the plugin has run). :meth:`call_hook` and :meth:`emit` do
        this; call it after what delivers events on its own (a request through :attr:`client`)."""
        for info in self.host.plugins():
            isolated = self.host.isolated(info.id)
            if isolated is not None:
                await isolated.drain_events()

    async def emit(self, event: object) -> None:
        """Deliver an event (``SessionCreated(...)``, ...) to its hook, scoped to the event's world."""
        await self.call_hook(_hook_name(event), world=event.world_id, event=event)  # type: ignore[attr-defined]

    async def condition(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        npc: NpcSnapshot,
        session: SessionSnapshot | None = None,
        state: Mapping[str, Any] | None = None,
        preferences: Mapping[str, Any] | None = None,
        plugin: str | None = None,
    ) -> Any:
        """Evaluate the plugin's condition ``name`` for ``npc`` through the host, as a tick would: its answer, or
        False when the call failed (then :meth:`failures` says why: out of process, as a ``RemotePluginError``
        whose message starts with the plugin's own exception type)."""
        view = await self.view(npc, session, state=state, preferences=preferences)
        return await self._extension(ExtensionKind.CONDITION, name, plugin, view, False, params or {}, view)

    async def score(
        self,
        name: str,
        activity: Mapping[str, Any],
        *,
        npc: NpcSnapshot,
        session: SessionSnapshot | None = None,
        state: Mapping[str, Any] | None = None,
        preferences: Mapping[str, Any] | None = None,
        plugin: str | None = None,
    ) -> Any:
        """The plugin's scoring factor ``name`` for ``activity`` (its JSON) and ``npc``: its answer, or the
        neutral 1.0 when the call failed."""
        view = await self.view(npc, session, state=state, preferences=preferences)
        return await self._extension(ExtensionKind.SCORING, name, plugin, view, 1.0, activity, view)

    async def effect(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        npc: NpcSnapshot,
        session: SessionSnapshot | None = None,
        state: Mapping[str, Any] | None = None,
        preferences: Mapping[str, Any] | None = None,
        plugin: str | None = None,
    ) -> EffectWrites | None:
        """Run the plugin's effect ``name`` for ``npc`` with a real writer (reading the session's flags of the
        plugin's own): what it staged, or None when it failed (then a tick applies none of it). Nothing is written
        to the session; :meth:`tick` applies effects for real."""
        pid = plugin or self.plugin_id
        view = await self.view(npc, session, state=state, preferences=preferences)
        prefix = f"plugin:{pid}:"
        own = {k: v for k, v in view.session.flags.items() if k.startswith(prefix)}
        writer = EffectWriter(pid, read=own.get)
        handed = writer_proxies(pid, self.host.health.record_denial)(writer)  # what the engine hands a plugin
        try:
            result = await self._extension(ExtensionKind.EFFECT, name, pid, view, _FAILED, params or {}, view, handed)
        finally:
            staged = writer.seal()
        if result is _FAILED:
            return None
        flags = {key.removeprefix(prefix): thaw(value) for key, value in staged.flags.items()}
        relationships = {key: dict(metrics) for key, metrics in staged.relationships.items()}
        return EffectWrites(flags, relationships)

    async def view(
        self,
        npc: NpcSnapshot,
        session: SessionSnapshot | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        preferences: Mapping[str, Any] | None = None,
    ) -> NpcView:
        """The NPC view a tick would hand the plugin for ``npc`` in ``session`` (a new session in the NPC's world
        when None): the world's meta as stored, the NPC's state from the session's ``flags.npcs`` unless
        ``state`` is given, and ``preferences`` (default none)."""
        if session is None:
            session = await self.session(npc.world_id)
        world = await self._stored_world(npc.world_id)
        if state is None:
            entry = session.flags.get("npcs", {}).get(f"npc:{npc.id}", {})
            state = entry.get("state", {}) if isinstance(entry, Mapping) else {}
        return NpcView(
            world_id=world.id,
            npc=npc,
            session=session,
            world_meta=world.meta,
            state=state,
            preferences=preferences or {},
            world_time=session.world_time,
            time_of_day=time_of_day(session.world_time),
        )

    async def _extension(
        self, kind: ExtensionKind, name: str, plugin: str | None, view: NpcView, fallback: Any, *args: Any
    ) -> Any:
        pid = plugin or self.plugin_id
        full = f"plugin:{pid}:{name}" if kind is not ExtensionKind.EFFECT else f"effect:plugin:{pid}:{name}"
        entry = self.host.behavior.get(kind, full)
        if entry is None:
            registered = [e.id for e in self.host.behavior.entries(kind) if e.plugin_id == pid]
            info = self.host.plugin(pid)
            raise LookupError(
                f"plugin {pid!r} ({info.state.value}{': ' + info.reason if info.reason else ''}) has no {kind.value} "
                f"{full!r}; it registered {registered or 'none'}"
            )
        scope = self.host.world_scope(view.world_id, view.world_meta)
        return await self.host.call_extension(entry, *args, fallback=fallback, world=scope)

    # -- reading what it wrote ------------------------------------------------------------------------------------
    async def flag(self, session: SessionSnapshot | int, key: str, *, plugin: str | None = None) -> Any:
        """The session's flag ``plugin:<id>:<key>`` as stored now (plain JSON; None when absent)."""
        return (await self.flags(session, plugin=plugin)).get(key)

    async def flags(self, session: SessionSnapshot | int, *, plugin: str | None = None) -> dict[str, Any]:
        """Every flag of the plugin's own in the session as stored now, by its un-namespaced key (plain JSON)."""
        prefix = f"plugin:{plugin or self.plugin_id}:"
        stored = await self.storage.sessions.get_session(_id(session))
        if stored is None:
            raise LookupError(f"session {_id(session)} does not exist")
        return {k.removeprefix(prefix): thaw(v) for k, v in stored.flags.items() if k.startswith(prefix)}

    # -- what the host recorded against it ------------------------------------------------------------------------
    def info(self, plugin: str | None = None) -> PluginInfo:
        """The host's view of the plugin: state, quarantine reason, granted permissions, ignored hooks."""
        return self.host.plugin(plugin or self.plugin_id)

    def state(self, plugin: str | None = None) -> PluginState:
        """``enabled``, ``disabled``, ``loaded`` or ``quarantined`` (then :meth:`info` has the reason)."""
        return self.info(plugin).state

    def health(self, plugin: str | None = None) -> HealthView:
        """The plugin's health as the admin API shows it (counters by outcome, denials, recent records)."""
        return self.host.health.view(plugin or self.plugin_id)

    def failures(self, plugin: str | None = None) -> tuple[FailureRecord, ...]:
        """Everything recorded against the plugin, oldest first (the host keeps the last 50): each failed call
        (``where`` is the hook or extension id) and each denial (``where`` is the capability member)."""
        return self.health(plugin).recent

    def denials(self, plugin: str | None = None) -> tuple[FailureRecord, ...]:
        """The records of permission denials (:meth:`failures` with outcome ``denied``)."""
        return tuple(r for r in self.failures(plugin) if r.outcome is Outcome.DENIED)

    async def _scope(self, world: WorldSnapshot | int) -> Any:
        stored = await self._stored_world(_id(world))
        return self.host.world_scope(stored.id, stored.meta)

    async def _stored_world(self, world_id: int) -> WorldSnapshot:
        stored = await self.storage.worlds.get_world(world_id)
        if stored is None:
            raise LookupError(f"world {world_id} does not exist")
        return stored

    def __repr__(self) -> str:
        return f"<Harness tier={self.tier.value} plugins={list(self.plugin_ids)}>"


def _id(thing: WorldSnapshot | SessionSnapshot | int) -> int:
    return thing if isinstance(thing, int) else thing.id

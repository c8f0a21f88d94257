"""Nothing of the host is reachable by plain attributes from what plugin code is handed (red-team 1, 3, 29, 35).

A walk over attributes — what a curious plugin types: ``x.y``, ``type(x).__dict__``, ``fn.__self__``,
``fn.__closure__[0].cell_contents``, ``__defaults__``, ``__wrapped__``, container items — from the context, its
capabilities and their sealed methods, an effect's writer, an NPC view, an event. It leaves out what CPython cannot
stop in-process, which ``tests/proxies/test_limits.py`` states as such: ``gc``, frames and coroutines, module
globals (``fn.__globals__``: the ``sys.modules`` class, where only classes live, never the running host), and
descriptors called by hand (``object.__getattribute__``, a slot's own ``__get__``)."""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from pixsim_hooks import EffectWriter, NpcView, SessionCreated, hookimpl
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend.behavior import tick
from pixsim_hooks.host import Breakers, HealthBook, PluginHost, Settings
from pixsim_hooks.plugin import BehaviorRegistry, ContextServices
from pixsim_hooks.telemetry import Telemetry
from tests.backend.behavior.conftest import activity, all_day, behavior, npc_meta
from tests.conftest import MakeHost
from tests.host.plugins import manifest

HOST_TYPES = (PluginHost, HealthBook, Breakers, Telemetry, Settings, BehaviorRegistry, ContextServices, SqlStorage)
SPECIALS = (
    "__class__",
    "__dict__",
    "__self__",
    "__func__",
    "__closure__",
    "__defaults__",
    "__kwdefaults__",
    "__wrapped__",
    "__mro__",
    "__bases__",
    "cell_contents",
)
NOT_WALKED = (types.ModuleType, types.FrameType, types.CoroutineType, types.GeneratorType, types.TracebackType)


def edges(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, tuple | list | set | frozenset):
        yield from ((f"[{i}]", item) for i, item in enumerate(obj))
        return
    if isinstance(obj, dict | types.MappingProxyType):
        yield from ((f"[{key!r}]", value) for key, value in list(obj.items()))
        return
    try:
        names = list(dir(obj))
    except BaseException:  # a proxy may refuse even this: then only the special names are tried
        names = []
    for name in {*names, *SPECIALS}:
        if name == "__globals__" or name.startswith("__subclass"):
            continue
        try:
            with warnings.catch_warnings():  # pydantic warns about its deprecated attributes as they are read
                warnings.simplefilter("ignore")
                child = getattr(obj, name)
        except BaseException:  # refused or missing: a dead end, which is the point
            continue
        yield name, child


def host_objects_reachable_from(start: object, label: str, *, limit: int = 40_000) -> list[str]:
    """Paths from ``start`` to an object of the host (breadth first, every object once)."""
    seen, found = {id(start)}, []
    frontier: list[tuple[object, str]] = [(start, label)]
    while frontier and len(seen) < limit:
        following = []
        for obj, path in frontier:
            for name, child in edges(obj):
                if id(child) in seen or isinstance(child, NOT_WALKED):
                    continue
                seen.add(id(child))
                step = f"{path}.{name}" if not name.startswith("[") else f"{path}{name}"
                if isinstance(child, HOST_TYPES):
                    found.append(f"{step} -> {type(child).__name__}")
                elif not (isinstance(child, type) and child.__module__ == "builtins"):
                    following.append((child, step))
        frontier = following
    return found


class Everything:
    """Every permission, a condition, an effect and an event handler: it keeps what it is handed."""

    manifest = manifest(
        "curious",
        "world:read",
        "session:read",
        "session:write",
        "npc:read",
        "behavior:extend_conditions",
        "behavior:extend_effects",
        "generation:submit",
        "log:emit",
        "event:subscribe",
    )

    def __init__(self) -> None:
        self.handed: dict[str, Any] = {}

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        self.handed["ctx"] = ctx
        ctx.behavior.register_condition_evaluator("look", self.look)
        ctx.behavior.register_effect_handler("keep", self.keep)

    def look(self, ctx: Any, params: Any, view: NpcView) -> bool:
        self.handed.update(condition_params=params, view=view)
        return True

    def keep(self, ctx: Any, params: Any, view: NpcView, writer: EffectWriter) -> None:
        self.handed.update(effect_params=params, writer=writer)

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        self.handed["event"] = event


@pytest.fixture
async def handed(make_host: MakeHost, storage: SqlStorage) -> dict[str, Any]:
    condition = {"type": "custom", "evaluatorId": "plugin:curious:look"}
    effects = {"customEffects": [{"type": "effect:plugin:curious:keep", "params": {"n": 1}}]}
    act = activity("act", requirements={"conditions": [condition]}, effects=effects)
    plugin = Everything()
    host = await make_host(plugin, storage=storage)
    world = await storage.worlds.create_world("Harbor", behavior([act], [all_day(("act", 1.0))]))
    await storage.npcs.create_npc(world.id, "Ana", npc_meta())
    session = await storage.sessions.create_session(world.id)
    await tick(host, storage, session.id, 60, seed=1)
    await host.hook.on_session_created(event=SessionCreated(world.id, session))
    return plugin.handed


@pytest.mark.parametrize("what", ["ctx", "view", "writer", "event", "condition_params", "effect_params"])
async def test_nothing_of_the_host_is_reachable_by_plain_attributes(handed: dict[str, Any], what: str) -> None:
    assert what in handed, f"the plugin was never handed its {what}"
    assert host_objects_reachable_from(handed[what], what) == []


async def test_the_walk_does_find_the_host_where_a_path_exists(make_host: MakeHost) -> None:
    """The walk itself can fail: from an object that holds a bound method of the host, it finds the host."""

    class Leaky:
        def __init__(self, host: PluginHost) -> None:
            self.callback = host.call_counts

    host = await make_host()
    assert host_objects_reachable_from(Leaky(host), "leaky") == ["leaky.callback.__self__ -> PluginHost"]

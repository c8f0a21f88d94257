"""Nothing of the host is reachable by plain attributes from what plugin code is handed (red-team 1, 3, 29, 35).

A walk over attributes — what a curious plugin types: ``x.y``, ``type(x).__dict__``, ``fn.__self__``,
``fn.__closure__[0].cell_contents``, ``__defaults__``, ``__wrapped__``, container items — from the context, its
capabilities and their sealed methods, an effect's writer, an NPC view, an event. It leaves out what CPython cannot
stop in-process, which ``tests/proxies/test_limits.py`` states as such: ``gc``, frames and coroutines, module
globals (``fn.__globals__``: the ``sys.modules`` class, where only classes live, never the running host), and
descriptors called by hand (``object.__getattribute__``, a slot's own ``__get__``)."""

from __future__ import annotations

from typing import Any

import pytest

from pixsim_hooks import EffectWriter, NpcView, SessionCreated, hookimpl
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend.behavior import tick
from pixsim_hooks.host import PluginHost
from tests.backend.behavior.conftest import activity, all_day, behavior, npc_meta
from tests.conftest import MakeHost
from tests.host.plugins import manifest
from tests.reach import host_paths


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
    assert list(host_paths(handed[what], what)) == []


async def test_the_walk_does_find_the_host_where_a_path_exists(make_host: MakeHost) -> None:
    """The walk itself can fail: from an object that holds a bound method of the host, it finds the host."""

    class Leaky:
        def __init__(self, host: PluginHost) -> None:
            self.callback = host.call_counts

    host = await make_host()
    assert list(host_paths(Leaky(host), "leaky")) == ["leaky.callback.__self__ -> PluginHost"]

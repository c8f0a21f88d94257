"""Capability facades through a real plugin context on the real SQL store: the bounds of
``ctx.session.adjust_relationship`` and what ``ctx.generation.submit`` stores (and refuses to)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks import NamespaceViolation, PluginNotEnabled, hookimpl
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._models import Generation
from pixsim_hooks.backend._store import SqlStorage
from tests.conftest import MakeHost
from tests.host.plugins import manifest


class Holder:
    """A plugin that keeps the ctx the host injects, so the test can act as the plugin."""

    def __init__(self, pid: str, *permissions: str) -> None:
        self.manifest = manifest(pid, *permissions)
        self.ctx: Any = None

    @hookimpl
    def on_load(self, ctx: Any) -> None:
        self.ctx = ctx


@dataclass
class Database:
    engine: AsyncEngine
    storage: SqlStorage

    async def generation_rows(self) -> int:
        async with create_sessionmaker(self.engine)() as session:
            return int((await session.execute(select(func.count()).select_from(Generation))).scalar_one())


@pytest.fixture
async def db(tmp_path: Any) -> AsyncIterator[Database]:
    """The real game store on a fresh SQLite file, with its engine (to count rows no store method lists)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'capabilities.sqlite3'}")
    await create_schema(engine)
    yield Database(engine, SqlStorage(create_sessionmaker(engine)))
    await engine.dispose()


async def plugin_ctx(make_host: MakeHost, db: Database, pid: str, *permissions: str) -> Any:
    holder = Holder(pid, *permissions)
    await make_host(holder, storage=db.storage)
    return holder.ctx


# -- session.adjust_relationship: |delta| <= 100, npc:<id>, a known metric ----------------------------------------
async def test_a_relationship_delta_of_100_or_minus_100_is_applied(make_host: MakeHost, db: Database) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id, relationships={"npc:4": {"trust": 10.0}})
    ctx = await plugin_ctx(make_host, db, "bonds", "session:write")
    await ctx.session.adjust_relationship(session.id, "npc:4", "affinity", 100)
    await ctx.session.adjust_relationship(session.id, "npc:4", "tension", -100)
    await ctx.session.adjust_relationship(session.id, "npc:4", "trust", -100.0)
    stored = await db.storage.sessions.get_session(session.id)
    assert stored.relationships == {"npc:4": {"affinity": 100.0, "tension": -100.0, "trust": -90.0}}


REFUSED_DELTAS = {
    "just over 100": 100.0001,
    "under -100": -101,
    "NaN": float("nan"),
    "infinity": float("inf"),
    "minus infinity": float("-inf"),
    "a bool": True,
    "a string": "5",
    "None": None,
    "a 400-digit int": 10**400,
    "an int subclass": type("Lying", (int,), {"__abs__": lambda self: 0})(10**6),
}


class LyingKey(str):
    """A str whose own methods say whatever suits it (red-team item 36)."""

    def startswith(self, *args: Any, **kwargs: Any) -> bool:
        return not str.startswith(self, "plugin:")

    def isdigit(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


REFUSED_NPC_KEYS = [
    "npc:",
    "npc:x",
    "npc:1 ",
    "npcs:1",
    "npc:-1",
    "npc:1.5",
    "NPC:1",
    "npc:1\n",
    "4",
    "npc:\u0661",  # an Arabic-Indic digit one: str.isdigit() says yes
    "npc:\u00b2",  # a superscript two
    "npc:01",  # a second spelling of npc:1
    LyingKey("npc:1"),
]
REFUSED_METRICS = ["love", "Trust", "", "affinity ", LyingKey("affinity")]


async def _refused_without_a_write(ctx: Any, db: Database, session_id: int, *args: Any, why: str) -> None:
    """Refused by the capability itself (its message names the argument), before anything reaches the store."""
    before = await db.storage.sessions.get_session(session_id)
    with pytest.raises(ValueError, match=why):
        await ctx.session.adjust_relationship(session_id, *args)
    after = await db.storage.sessions.get_session(session_id)
    assert (after.relationships, after.version) == (before.relationships, before.version)


@pytest.mark.parametrize("delta", list(REFUSED_DELTAS.values()), ids=list(REFUSED_DELTAS))
async def test_a_relationship_delta_out_of_range_or_not_a_number_is_refused(
    make_host: MakeHost, db: Database, delta: Any
) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id)
    ctx = await plugin_ctx(make_host, db, "bonds", "session:write")
    await _refused_without_a_write(ctx, db, session.id, "npc:4", "affinity", delta, why="delta")


@pytest.mark.parametrize("npc_key", REFUSED_NPC_KEYS)
async def test_a_relationship_key_that_is_not_npc_and_digits_is_refused(
    make_host: MakeHost, db: Database, npc_key: str
) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id)
    ctx = await plugin_ctx(make_host, db, "bonds", "session:write")
    await _refused_without_a_write(ctx, db, session.id, npc_key, "affinity", 1, why="npc_key")


@pytest.mark.parametrize("metric", REFUSED_METRICS)
async def test_an_unknown_relationship_metric_is_refused(make_host: MakeHost, db: Database, metric: str) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id)
    ctx = await plugin_ctx(make_host, db, "bonds", "session:write")
    await _refused_without_a_write(ctx, db, session.id, "npc:4", metric, 1, why="metric")


# -- generation.submit ----------------------------------------------------------------------------------------
async def test_a_submitted_generation_is_stored_as_requested_by_the_plugin(make_host: MakeHost, db: Database) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    ctx = await plugin_ctx(make_host, db, "scribe", "generation:submit")
    answered = await ctx.generation.submit("a lighthouse at dawn", world_id=world.id, params={"style": "ink", "n": 2})
    stored = await db.storage.generations.get(answered.id)
    assert stored is not None
    assert (stored.requested_by, stored.prompt, stored.world_id, stored.status) == (
        "plugin:scribe",
        "a lighthouse at dawn",
        world.id,
        "pending",
    )
    assert stored.params == {"style": "ink", "n": 2}
    assert answered == stored
    assert await db.generation_rows() == 1


async def test_a_plugin_cannot_say_who_requested_a_generation(make_host: MakeHost, db: Database) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    ctx = await plugin_ctx(make_host, db, "scribe", "generation:submit")
    with pytest.raises(TypeError):
        await ctx.generation.submit("a portrait", world_id=world.id, requested_by="api")
    assert await db.generation_rows() == 0
    # a requested_by among the params is just a parameter: the record still names the plugin
    answered = await ctx.generation.submit("a portrait", world_id=world.id, params={"requested_by": "core"})
    stored = await db.storage.generations.get(answered.id)
    assert stored is not None
    assert (stored.requested_by, stored.params) == ("plugin:scribe", {"requested_by": "core"})


async def test_a_world_that_has_not_enabled_the_plugin_refuses_its_generation(
    make_host: MakeHost, db: Database
) -> None:
    world = await db.storage.worlds.create_world("Harbor", {"behavior": {"enabledPlugins": ["someone-else"]}})
    holder = Holder("scribe", "generation:submit")
    host = await make_host(holder, storage=db.storage)
    with pytest.raises(PluginNotEnabled) as refused:
        await holder.ctx.generation.submit("a portrait", world_id=world.id)
    assert (refused.value.plugin_id, refused.value.world_id) == ("scribe", world.id)
    assert await db.generation_rows() == 0
    assert host.health.of("scribe").denials == 1


# -- keys whose own methods lie (red-team 36) -------------------------------------------------------------------------
async def test_a_str_subclass_key_cannot_read_write_or_delete_another_plugins_or_the_cores_flags(
    make_host: MakeHost, db: Database
) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id, flags={"plugin:victim:secret": 1, "location_id": 3})
    ctx = await plugin_ctx(make_host, db, "thief", "session:read", "session:write")
    for key in ("plugin:victim:secret", "location_id"):
        for attempt in (
            ctx.session.get_flag(session.id, LyingKey(key)),
            ctx.session.set_flag(session.id, LyingKey(key), 0),
            ctx.session.delete_flag(session.id, LyingKey(key)),
            ctx.session.set_flags(session.id, {LyingKey(key): 0}),
        ):
            with pytest.raises(ValueError, match="a flag key must be a non-empty str"):
                await attempt
    after = await db.storage.sessions.get_session(session.id)
    assert (dict(after.flags), after.version) == ({"plugin:victim:secret": 1, "location_id": 3}, session.version)


async def test_a_plugin_whose_id_is_a_prefix_of_anothers_cannot_reach_its_flags(
    make_host: MakeHost, db: Database
) -> None:
    world = await db.storage.worlds.create_world("Harbor")
    session = await db.storage.sessions.create_session(world.id, flags={"plugin:stealthy:x": 1})
    ctx = await plugin_ctx(make_host, db, "stealth", "session:read", "session:write")
    with pytest.raises(NamespaceViolation):
        await ctx.session.set_flag(session.id, "plugin:stealthy:x", 2)
    with pytest.raises(NamespaceViolation):
        await ctx.session.get_flag(session.id, "plugin:stealthy:x")
    written = await ctx.session.set_flag(session.id, "y:plugin:stealthy:x", 3)  # its own key, whatever it spells
    assert dict(written.flags) == {"plugin:stealthy:x": 1, "plugin:stealth:y:plugin:stealthy:x": 3}


async def test_extension_names_are_matched_whole_and_in_ascii(make_host: MakeHost) -> None:
    refused: dict[str, str] = {}

    class Registers:
        manifest = manifest("names", "behavior:extend_conditions")

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            for name in (
                "ready\n",
                "rea\u0064y\u0301",
                "\uff52eady",
                "r\u0435ady",
                LyingKey("plugin:other:x"),
                "ok",
            ):
                try:
                    ctx.behavior.register_condition_evaluator(name, lambda ctx, params, view: True)
                except (ValueError, TypeError, PermissionError) as exc:
                    refused[repr(name)] = type(exc).__name__

    host = await make_host(Registers())
    assert [e.id for e in host.behavior.entries() if e.plugin_id == "names"] == ["plugin:names:ok"]
    assert refused == {
        repr("ready\n"): "ValueError",  # a trailing newline: "$" would have let it through
        repr("rea\u0064y\u0301"): "ValueError",  # a combining accent
        repr("\uff52eady"): "ValueError",  # a fullwidth r
        repr("r\u0435ady"): "ValueError",  # a Cyrillic e
        repr(LyingKey("plugin:other:x")): "TypeError",  # a str subclass: refused by type, never asked
    }

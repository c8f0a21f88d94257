"""The plugin context: permissions grant exactly their members; identity cannot be forged or widened;
red-team items 1-9, 19-20 and 25-26 tried by real plugins through their own ``ctx``."""

from __future__ import annotations

import asyncio
import copy
import gc
import pickle
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from pixsim_hooks import (
    NamespaceViolation,
    NotFoundError,
    Permission,
    PermissionDenied,
    PluginContext,
    PluginManifest,
    PluginNotEnabled,
    SessionCapability,
    hookimpl,
)
from pixsim_hooks.host import PluginState
from pixsim_hooks.plugin import CoreError
from tests.conftest import MakeHost
from tests.host.plugins import manifest


class Holder:
    """Keeps the ctx the host injects, so the test can act as the plugin."""

    def __init__(self, pid: str, *permissions: str) -> None:
        self.manifest = manifest(pid, *permissions)
        self.ctx: Any = None

    @hookimpl
    def on_load(self, ctx: Any) -> None:
        self.ctx = ctx


async def ctx_with(make_host: MakeHost, *permissions: str, storage: Any = None, pid: str = "holder") -> Any:
    holder = Holder(pid, *permissions)
    await make_host(holder, storage=storage)
    return holder.ctx


# -- permissions (which members each grants: tests/plugin/test_permissions.py) ---------------------------------------
async def test_unknown_permissions_are_warned_about_and_grant_nothing(make_host: MakeHost) -> None:
    holder = Holder("holder", "world:read", "world:write", "root")
    with capture_logs() as logs:
        host = await make_host(holder)
    assert holder.ctx.permissions == frozenset({"world:read"})
    assert host.plugin("holder").unknown_permissions == ("world:write", "root")
    warning = next(e for e in logs if e["event"].startswith("plugin asks for unknown permissions"))
    assert warning["plugin_id"] == "holder"


async def test_a_group_wildcard_grants_the_whole_group(make_host: MakeHost) -> None:
    ctx = await ctx_with(make_host, "behavior:*")
    assert ctx.permissions == {
        "behavior:extend_conditions",
        "behavior:extend_effects",
        "behavior:extend_scoring",
        "behavior:suggest_activities",
        "behavior:configure_simulation",
    }


async def test_a_denial_is_recorded_against_the_plugin_and_logged(make_host: MakeHost) -> None:
    holder = Holder("holder")
    host = await make_host(holder)
    with capture_logs() as logs, pytest.raises(PermissionDenied, match="lacks permission 'session:write'"):
        _ = holder.ctx.session.set_flag
    assert host.health.of("holder").denials == 1
    assert logs[-1]["plugin_id"] == "holder" and logs[-1]["permission"] == "session:write"


# -- identity ------------------------------------------------------------------------------------------------
def test_plugins_cannot_construct_a_context() -> None:
    with pytest.raises(TypeError, match="built by the plugin host"):
        PluginContext()


async def test_identity_and_permissions_cannot_be_replaced(make_host: MakeHost) -> None:
    ctx = await ctx_with(make_host, "world:read")
    for name, value in [("plugin_id", "core"), ("permissions", frozenset(Permission)), ("session", None)]:
        with pytest.raises(PermissionDenied):
            setattr(ctx, name, value)
    with pytest.raises(AttributeError):
        ctx.permissions.add("session:write")
    assert ctx.plugin_id == "holder" and ctx.permissions == {"world:read"}


async def test_a_manifest_rewritten_at_runtime_is_ignored_and_recorded(make_host: MakeHost) -> None:
    holder = Holder("holder", "world:read")
    host = await make_host(holder)
    holder.manifest = PluginManifest(
        id="holder", name="Holder", version="1.0.0", trust="first_party", permissions=("session:write",)
    )
    await host.disable("holder")
    await host.enable("holder")
    assert host.plugin("holder").permissions == ("world:read",)
    assert holder.ctx.permissions == {"world:read"}
    assert host.health.of("holder").recent[-1].where == "manifest.rewrite"


async def test_ctx_manifest_is_a_copy_of_the_approved_one(make_host: MakeHost) -> None:
    holder = Holder("holder", "world:read")
    host = await make_host(holder)
    assert holder.ctx.manifest == host.plugin("holder").manifest
    assert holder.ctx.manifest is not host.plugin("holder").manifest


# -- red-team 1-9 through ctx -------------------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", ["__wrapped__", "_self_target", "__dict__", "__self_dict__"])
async def test_red_team_1_reaching_behind_a_capability_is_denied(make_host: MakeHost, attempt: str) -> None:
    ctx = await ctx_with(make_host, "world:read")
    for surface in (ctx, ctx.world, ctx.session):
        with pytest.raises(PermissionDenied):
            getattr(surface, attempt)
    with pytest.raises(PermissionDenied):
        vars(ctx.world)


async def test_red_team_2_assigning_or_deleting_capability_attributes_is_denied(make_host: MakeHost) -> None:
    ctx = await ctx_with(make_host, "world:read", "session:read")
    with pytest.raises(PermissionDenied):
        ctx.world.x = 1
    with pytest.raises(PermissionDenied):
        del ctx.session.get_session
    assert callable(ctx.session.get_session)


@pytest.mark.parametrize("attempt", ["__self__", "__func__", "__wrapped__", "__closure__", "__globals__"])
async def test_red_team_3_a_granted_method_does_not_lead_back_to_the_host(make_host: MakeHost, attempt: str) -> None:
    ctx = await ctx_with(make_host, "world:read")
    with pytest.raises(PermissionDenied):
        getattr(ctx.world.get_world, attempt)


async def test_red_team_4_class_is_the_proxys_and_cannot_be_assigned(make_host: MakeHost) -> None:
    ctx = await ctx_with(make_host, "session:write")
    assert ctx.session.__class__ is not SessionCapability
    assert not isinstance(ctx.session, SessionCapability)
    with pytest.raises(PermissionDenied):
        ctx.session.__class__ = SessionCapability


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s["x"],
        lambda s: iter(s),
        lambda s: len(s),
        lambda s: s(),
        lambda s: s.__enter__(),
        lambda s: "x" in s,
    ],
    ids=["item", "iter", "len", "call", "with", "contains"],
)
async def test_red_team_5_protocol_operations_on_a_capability_are_denied(make_host: MakeHost, operation: Any) -> None:
    ctx = await ctx_with(make_host, "world:read")
    with pytest.raises(PermissionDenied):
        operation(ctx.world)


@pytest.mark.parametrize("copier", [pickle.dumps, copy.copy, copy.deepcopy], ids=["pickle", "copy", "deepcopy"])
async def test_red_team_6_copying_a_capability_is_refused(make_host: MakeHost, copier: Any) -> None:
    ctx = await ctx_with(make_host, "world:read")
    for surface in (ctx, ctx.world):
        with pytest.raises(PermissionDenied):
            copier(surface)


async def test_red_team_7_dir_and_repr_show_only_what_is_granted(make_host: MakeHost) -> None:
    ctx = await ctx_with(make_host, "world:read")
    assert dir(ctx.world) == ["get_location", "get_world", "list_locations"]
    assert "WorldCapability object" not in repr(ctx.world) and "holder" in repr(ctx.world)


def _host_objects_in(obj: Any) -> list[str]:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from pixsim_hooks.backend._store import SqlStorage

    suspicious = (SqlStorage, AsyncSession, async_sessionmaker, SessionCapability)
    return [type(o).__name__ for o in gc.get_referents(obj) if isinstance(o, suspicious)]


async def test_red_team_8_an_error_from_a_granted_call_carries_no_host_frames(
    make_host: MakeHost, storage: Any
) -> None:
    ctx = await ctx_with(make_host, "session:read", storage=storage)
    with pytest.raises(NotFoundError) as raised:
        await ctx.session.get_flag(999, "x")
    exc = raised.value
    assert exc.__cause__ is None and exc.__context__ is None
    tb = exc.__traceback__.tb_next  # skip this test's own frame (it holds the storage fixture)
    while tb is not None:
        assert "pixsim_hooks" not in tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name
        assert _host_objects_in(tb.tb_frame.f_locals) == [], tb.tb_frame.f_code.co_name
        assert not any(isinstance(v, SessionCapability) for v in tb.tb_frame.f_locals.values())
        tb = tb.tb_next


async def test_red_team_8_a_storage_failure_is_the_cores_error_reduced_to_its_type(
    make_host: MakeHost, storage: Any
) -> None:
    ctx = await ctx_with(make_host, "world:read", storage=storage)
    async with storage.worlds._sessionmaker() as session, session.begin():  # the database breaks under the host
        await session.execute(text("DROP TABLE game_worlds"))
    with capture_logs() as logs, pytest.raises(CoreError) as raised:
        await ctx.world.get_world(1)  # the driver's error quotes the SQL
    # SQLAlchemy's OperationalError (no such table): its type name survives, its text and its objects do not
    assert str(raised.value) == "the host's storage failed (OperationalError); see the server log"
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    (logged,) = [entry for entry in logs if entry["event"] == "the storage failed under a plugin's call"]
    assert (logged["log_level"], logged["error_type"]) == ("error", "OperationalError")
    assert "game_worlds" in logged["traceback"]  # the whole error is the server's to read


@pytest.mark.parametrize("world_id", [object(), True, 1.0, "1", 0, -1, 2**63, 2**400])
async def test_an_id_that_is_not_a_plain_int_in_range_is_refused_before_the_store_sees_it(
    make_host: MakeHost, storage: Any, world_id: Any
) -> None:
    ctx = await ctx_with(make_host, "world:read", storage=storage)
    with pytest.raises(ValueError, match="world_id must be an int from 1 to 9223372036854775807"):
        await ctx.world.get_world(world_id)


async def test_red_team_9_an_async_capability_call_hands_out_no_host_coroutine(
    make_host: MakeHost, storage: Any
) -> None:
    world = await storage.worlds.create_world("Harbor", {"weather": "rain"})
    ctx = await ctx_with(make_host, "world:read", storage=storage)
    pending = ctx.world.get_world(world.id)
    assert not asyncio.iscoroutine(pending)
    assert not any(asyncio.iscoroutine(r) or type(r).__name__ == "frame" for r in gc.get_referents(pending))
    snapshot = await pending
    assert snapshot.meta == {"weather": "rain"}
    with pytest.raises(TypeError, match="read-only snapshot"):
        snapshot.meta["weather"] = "sun"


# -- data integrity and namespaces (red-team 19, 20, 25) -------------------------------------------------------
async def test_session_flags_are_namespaced_by_the_host_bound_identity(make_host: MakeHost, storage: Any) -> None:
    world = await storage.worlds.create_world("W")
    session = await storage.sessions.create_session(world.id)
    ctx = await ctx_with(make_host, "session:read", "session:write", storage=storage, pid="stealth")
    await ctx.session.set_flag(session.id, "noticed", True)
    await ctx.session.set_flag(session.id, "plugin:stealth:level", 2)
    stored = await storage.sessions.get_session(session.id)
    assert stored.flags == {"plugin:stealth:noticed": True, "plugin:stealth:level": 2}
    assert await ctx.session.get_flag(session.id, "level") == 2


async def test_red_team_19_writing_another_plugins_flag_is_denied_and_recorded(
    make_host: MakeHost, storage: Any
) -> None:
    world = await storage.worlds.create_world("W")
    session = await storage.sessions.create_session(world.id, flags={"plugin:other:x": 1})
    holder = Holder("holder", "session:write")
    host = await make_host(holder, storage=storage)
    with pytest.raises(NamespaceViolation, match="plugin:other:x"):
        await holder.ctx.session.set_flag(session.id, "plugin:other:x", 2)
    assert (await storage.sessions.get_session(session.id)).flags == {"plugin:other:x": 1}
    assert host.health.of("holder").denials == 1


async def test_red_team_20_writing_to_a_world_that_has_not_enabled_the_plugin_is_denied(
    make_host: MakeHost, storage: Any
) -> None:
    world = await storage.worlds.create_world("W", {"behavior": {"enabledPlugins": ["someone-else"]}})
    session = await storage.sessions.create_session(world.id)
    holder = Holder("holder", "session:write", "generation:submit")
    host = await make_host(holder, storage=storage)
    with pytest.raises(PluginNotEnabled):
        await holder.ctx.session.set_flag(session.id, "x", 1)
    with pytest.raises(PluginNotEnabled):
        await holder.ctx.generation.submit("a portrait", world_id=world.id)
    assert (await storage.sessions.get_session(session.id)).flags == {}
    assert host.health.of("holder").denials == 2


async def test_a_globally_disabled_plugin_cannot_write(make_host: MakeHost, storage: Any) -> None:
    world = await storage.worlds.create_world("W")
    session = await storage.sessions.create_session(world.id)
    holder = Holder("holder", "session:write")
    host = await make_host(holder, storage=storage)
    await host.disable("holder")
    with pytest.raises(PluginNotEnabled):
        await holder.ctx.session.set_flag(session.id, "x", 1)
    assert host.plugin("holder").state is PluginState.DISABLED


async def test_non_finite_or_unserialisable_values_are_refused(make_host: MakeHost, storage: Any) -> None:
    world = await storage.worlds.create_world("W")
    session = await storage.sessions.create_session(world.id)
    ctx = await ctx_with(make_host, "session:write", storage=storage)
    for bad in (float("nan"), float("inf"), object(), "x" * 70_000):
        with pytest.raises(ValueError):
            await ctx.session.set_flag(session.id, "k", bad)
    assert (await storage.sessions.get_session(session.id)).flags == {}


@pytest.mark.parametrize("name", ["plugin:other:is_raining", "core:is_raining", "effect:plugin:other:x"])
async def test_red_team_25_registering_under_a_foreign_namespace_is_denied(make_host: MakeHost, name: str) -> None:
    class Registrar:
        manifest = manifest("registrar", "behavior:*")
        outcome: list[BaseException] = []

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            for register in (ctx.behavior.register_condition_evaluator, ctx.behavior.register_effect_handler):
                try:
                    register(name, lambda ctx, *a: True)
                except PermissionDenied as exc:
                    self.outcome.append(exc)

    host = await make_host(Registrar())
    assert len(Registrar.outcome) == 2
    assert all(isinstance(e, NamespaceViolation) for e in Registrar.outcome)
    assert host.behavior.entries() == ()
    assert host.health.of("registrar").denials == 2


async def test_registered_ids_are_namespaced_under_the_registering_plugin(make_host: MakeHost) -> None:
    class Weather:
        manifest = manifest("weather", "behavior:extend_conditions", "behavior:extend_effects")

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            ctx.behavior.register_condition_evaluator("is_raining", lambda ctx, *a: True)
            ctx.behavior.register_condition_evaluator("plugin:weather:is_windy", lambda ctx, *a: False)
            ctx.behavior.register_effect_handler("soak", lambda ctx, *a: None)

    host = await make_host(Weather())
    assert [(e.kind.value, e.id, e.plugin_id) for e in host.behavior.entries()] == [
        ("condition", "plugin:weather:is_raining", "weather"),
        ("condition", "plugin:weather:is_windy", "weather"),
        ("effect", "effect:plugin:weather:soak", "weather"),
    ]


async def test_registering_without_the_permission_is_denied_and_nothing_is_registered(
    make_host: MakeHost,
) -> None:
    class Greedy:
        manifest = manifest("greedy", "behavior:extend_conditions")

        @hookimpl
        def register_behavior(self, ctx: Any) -> None:
            ctx.behavior.register_effect_handler("steal", lambda ctx, *a: None)

    host = await make_host(Greedy())
    info = host.plugin("greedy")
    assert info.state is PluginState.QUARANTINED
    assert "lacks permission 'behavior:extend_effects'" in (info.reason or "")
    assert host.behavior.entries() == ()

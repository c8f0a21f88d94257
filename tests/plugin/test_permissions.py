"""Permissions: which capability members and which hooks each permission unlocks.

The tables below are the specification, written out by hand from the roadmap and ``docs/plugin-model.md``; the
code's table (:data:`~pixsim_hooks.CAPABILITY_MEMBERS`), the capability classes, the documentation and a real
plugin context are each checked against them. A member that moves to another permission,
a new public method that no permission grants, or a row of the doc that drifts, fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pixsim_hooks import (
    BehaviorExtensionAPI,
    GenerationCapability,
    LogCapability,
    NpcCapability,
    Permission,
    PermissionDenied,
    SessionCapability,
    WorldCapability,
    hookimpl,
)
from pixsim_hooks.plugin import CAPABILITIES, CAPABILITY_MEMBERS, member_requirements, resolve_permissions
from tests.conftest import MakeHost
from tests.host.plugins import manifest

# permission -> capability -> members it unlocks (hook-level permissions unlock no member)
MEMBERS: dict[str, dict[str, set[str]]] = {
    "world:read": {"world": {"get_world", "get_location", "list_locations"}},
    "session:read": {"session": {"get_session", "get_flag"}},
    "session:write": {"session": {"set_flag", "set_flags", "delete_flag", "adjust_relationship"}},
    "npc:read": {"npc": {"get_npc", "list_npcs"}},
    "behavior:extend_conditions": {"behavior": {"register_condition_evaluator"}},
    "behavior:extend_effects": {"behavior": {"register_effect_handler"}},
    "behavior:extend_scoring": {"behavior": {"register_scoring_factor"}},
    "behavior:suggest_activities": {},
    "behavior:configure_simulation": {"behavior": {"register_simulation_defaults"}},
    "generation:submit": {"generation": {"submit", "get"}},
    "log:emit": {"log": {"debug", "info", "warning", "error"}},
    "event:subscribe": {},
    "routes:register": {},
    "admin:routes": {},
    "middleware:http": {},
}

# permission -> the hooks a plugin needs it to implement, as the doc lists them (the hookspecs' own contracts are
# checked against the roadmap in tests/hookspecs/test_specs.py)
HOOKS: dict[str, set[str]] = {
    "behavior:suggest_activities": {"suggest_activities"},
    "behavior:configure_simulation": {"provide_simulation_defaults"},
    "event:subscribe": {
        "on_session_created",
        "on_session_updated",
        "on_interaction_executed",
        "on_npc_spawned",
        "on_location_changed",
        "on_world_time_advanced",
    },
    "routes:register": {"provide_router"},
    "admin:routes": {"provide_admin_router"},
    "middleware:http": {"provide_middleware"},
}

SURFACES = {
    "world": WorldCapability,
    "session": SessionCapability,
    "npc": NpcCapability,
    "behavior": BehaviorExtensionAPI,
    "generation": GenerationCapability,
    "log": LogCapability,
}


def granted_by(permission: str) -> set[tuple[str, str]]:
    return {(cap, m) for cap, members in MEMBERS[permission].items() for m in members}


# -- the code's tables against the specification ----------------------------------------------------------------
def test_the_permissions_are_exactly_the_specified_ones() -> None:
    assert {p.value for p in Permission} == set(MEMBERS)
    assert CAPABILITIES == ("world", "session", "npc", "behavior", "generation", "log")


def test_the_capability_member_table_is_the_specified_one() -> None:
    code = {p.value: {cap: set(ms) for cap, ms in by_cap.items()} for p, by_cap in CAPABILITY_MEMBERS.items()}
    assert code == {p: by_cap for p, by_cap in MEMBERS.items() if by_cap}
    for value, by_cap in MEMBERS.items():
        assert {cap: set(ms) for cap, ms in Permission(value).members.items()} == by_cap, value


def test_each_member_names_the_one_permission_that_grants_it_in_denials() -> None:
    expected: dict[str, dict[str, str]] = {cap: {} for cap in SURFACES}
    for permission, by_cap in MEMBERS.items():
        for cap, members in by_cap.items():
            for member in members:
                assert member not in expected[cap], f"{cap}.{member} is granted twice in the spec table"
                expected[cap][member] = permission
    assert member_requirements() == expected


@pytest.mark.parametrize("capability", list(SURFACES))
def test_every_public_capability_method_is_granted_by_some_permission(capability: str) -> None:
    """A public method added to a capability class without a permission would be unreachable, or worse, granted
    by accident; one removed would break plugins that hold the permission."""
    cls = SURFACES[capability]
    public = {n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}
    specified = {m for by_cap in MEMBERS.values() for m in by_cap.get(capability, ())}
    assert public == specified


# -- a real context: a plugin granted one permission ----------------------------------------------------------
class Holder:
    """Keeps the ctx the host injects, so the test can act as the plugin."""

    def __init__(self, *permissions: str) -> None:
        self.manifest = manifest("holder", *permissions)
        self.ctx: Any = None

    @hookimpl
    def on_load(self, ctx: Any) -> None:
        self.ctx = ctx


async def settle(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _noop(*args: Any) -> None:
    return None


async def _world_reads(surface: Any, ids: dict[str, int], member: str) -> None:
    if member == "get_world":
        assert (await surface.get_world(ids["world"])).name == "Harbor"
    elif member == "get_location":
        assert (await surface.get_location(ids["location"])).name == "Dock"
    else:
        assert [loc.name for loc in await surface.list_locations(ids["world"])] == ["Dock"]


async def _use(capability: str, member: str, surface: Any, ids: dict[str, int]) -> None:
    """Call ``ctx.<capability>.<member>`` for real and check it did its own work (not a neighbour's)."""
    sid = ids["session"]
    if capability == "world":
        await _world_reads(surface, ids, member)
    elif (capability, member) == ("session", "get_session"):
        assert (await surface.get_session(sid)).id == sid
    elif (capability, member) == ("session", "get_flag"):
        assert await surface.get_flag(sid, "mood", "calm") == "calm"
    elif (capability, member) == ("session", "set_flag"):
        assert (await surface.set_flag(sid, "mood", "happy")).flags["plugin:holder:mood"] == "happy"
    elif (capability, member) == ("session", "set_flags"):
        assert (await surface.set_flags(sid, {"level": 2})).flags["plugin:holder:level"] == 2
    elif (capability, member) == ("session", "delete_flag"):
        assert "plugin:holder:gone" not in (await surface.delete_flag(sid, "gone")).flags
    elif (capability, member) == ("session", "adjust_relationship"):
        written = await surface.adjust_relationship(sid, "npc:4", "trust", 3)
        assert written.relationships["npc:4"]["trust"] == 3.0
    elif (capability, member) == ("npc", "get_npc"):
        assert (await surface.get_npc(ids["npc"])).name == "Ana"
    elif (capability, member) == ("npc", "list_npcs"):
        assert [n.name for n in await surface.list_npcs(ids["world"])] == ["Ana"]
    elif capability == "behavior" and member == "register_simulation_defaults":
        assert surface.register_simulation_defaults({"tickSeconds": 60}) is None
    elif capability == "behavior":
        prefix = "effect:" if member == "register_effect_handler" else ""
        assert getattr(surface, member)("used", _noop) == f"{prefix}plugin:holder:used"
    elif (capability, member) == ("generation", "submit"):
        assert (await surface.submit("a portrait")).requested_by == "plugin:holder"
    elif (capability, member) == ("generation", "get"):
        assert await surface.get(9999) is None
    else:
        with capture_logs() as logs:
            assert getattr(surface, member)("used") is None
        assert [(e["event"], e["log_level"], e["plugin_id"]) for e in logs] == [("used", member, "holder")]


@pytest.mark.parametrize("permission", list(MEMBERS))
async def test_a_plugin_granted_one_permission_uses_exactly_its_members(
    make_host: MakeHost, storage: Any, permission: str
) -> None:
    world = await storage.worlds.create_world("Harbor")
    location = await storage.worlds.create_location(world.id, "Dock")
    npc = await storage.npcs.create_npc(world.id, "Ana")
    session = await storage.sessions.create_session(world.id)
    ids = {"world": world.id, "location": location.id, "npc": npc.id, "session": session.id}
    holder = Holder(permission)
    await make_host(holder, storage=storage)
    ctx = holder.ctx
    for capability in SURFACES:
        assert dir(getattr(ctx, capability)) == sorted(MEMBERS[permission].get(capability, ())), capability
    for capability, member in sorted(granted_by(permission)):
        await _use(capability, member, getattr(ctx, capability), ids)
    for other in MEMBERS:
        for capability, member in sorted(granted_by(other) - granted_by(permission)):
            with pytest.raises(PermissionDenied, match=f"lacks permission '{other}'") as denied:
                getattr(getattr(ctx, capability), member)
            assert (denied.value.permission, denied.value.capability, denied.value.member) == (
                other,
                capability,
                member,
            )


# -- resolving manifest strings ----------------------------------------------------------------------------------
def test_the_seed_permissions_exist_with_their_groups() -> None:
    for value, group in (
        ("world:read", "world"),
        ("session:read", "session"),
        ("session:write", "session"),
        ("npc:read", "npc"),
        ("behavior:extend_conditions", "behavior"),
        ("behavior:extend_effects", "behavior"),
        ("behavior:extend_scoring", "behavior"),
        ("behavior:configure_simulation", "behavior"),
        ("generation:submit", "generation"),
        ("log:emit", "log"),
        ("event:subscribe", "event"),
        ("admin:routes", "admin"),
    ):
        assert Permission(value).group == group


def test_resolving_keeps_known_expands_groups_and_reports_unknown() -> None:
    granted, unknown = resolve_permissions(["npc:read", "session:*", "npc:write", "*", "event:*", "nope:*", "*:*"])
    assert granted == {
        Permission.NPC_READ,
        Permission.SESSION_READ,
        Permission.SESSION_WRITE,
        Permission.EVENT_SUBSCRIBE,
    }
    assert unknown == ("npc:write", "*", "nope:*", "*:*")  # a wildcard of no group is as unknown as a typo


# -- the documentation ---------------------------------------------------------------------------------------------
def documented_permissions() -> dict[str, tuple[set[tuple[str, str]], set[str]]]:
    """``docs/plugin-model.md``'s permission table: permission → (members, hooks), as written there."""
    doc = Path(__file__).parents[2].joinpath("docs", "plugin-model.md").read_text()
    table: dict[str, tuple[set[tuple[str, str]], set[str]]] = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`[a-z_]+:[a-z_]+`", cells[0]):
            continue
        members = set(re.findall(r"`ctx\.([a-z_]+)\.([a-z_]+)`", cells[1]))
        hooks = set(re.findall(r"`([a-z_]+)`", cells[2]))
        table[cells[0].strip("`")] = (members, hooks)
    return table


def test_the_documented_permission_table_is_the_specified_one() -> None:
    """Every member and hook, and no other, in the row of its permission: a member left out of the doc, or listed
    under the wrong permission, fails."""
    expected = {p: (granted_by(p), HOOKS.get(p, set())) for p in MEMBERS}
    assert documented_permissions() == expected

"""Permissions: one table says which capability members each permission unlocks."""

from __future__ import annotations

from pixsim_hooks import CAPABILITY_MEMBERS, Permission
from pixsim_hooks._behavior_registry import BehaviorExtensionAPI
from pixsim_hooks._capabilities import (
    GenerationCapability,
    LogCapability,
    NpcCapability,
    SessionCapability,
    WorldCapability,
)
from pixsim_hooks._permissions import CAPABILITIES, member_requirements, resolve_permissions

SURFACES = {
    "world": WorldCapability,
    "session": SessionCapability,
    "npc": NpcCapability,
    "behavior": BehaviorExtensionAPI,
    "generation": GenerationCapability,
    "log": LogCapability,
}


def test_every_public_capability_method_is_granted_by_exactly_one_permission() -> None:
    requirements = member_requirements()
    for capability, cls in SURFACES.items():
        public = {n for n in vars(cls) if not n.startswith("_") and callable(getattr(cls, n))}
        assert set(requirements[capability]) == public, capability
    granted_twice = [
        (cap, m)
        for cap in CAPABILITIES
        for m in requirements[cap]
        if sum(m in by.get(cap, ()) for by in CAPABILITY_MEMBERS.values()) != 1
    ]
    assert granted_twice == []


def test_the_seed_permissions_exist_with_their_groups() -> None:
    for value in (
        "world:read",
        "session:read",
        "session:write",
        "npc:read",
        "behavior:extend_conditions",
        "behavior:extend_effects",
        "behavior:extend_scoring",
        "behavior:configure_simulation",
        "generation:submit",
        "log:emit",
        "event:subscribe",
        "admin:routes",
    ):
        assert Permission(value).group == value.split(":")[0]


def test_resolving_keeps_known_expands_groups_and_reports_unknown() -> None:
    granted, unknown = resolve_permissions(["npc:read", "session:*", "npc:write", "*", "event:*"])
    assert granted == {
        Permission.NPC_READ,
        Permission.SESSION_READ,
        Permission.SESSION_WRITE,
        Permission.EVENT_SUBSCRIBE,
    }
    assert unknown == ("npc:write", "*")


def test_the_documented_permission_table_matches_the_code() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[2].joinpath("docs", "plugin-model.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in doc.splitlines() if line.startswith("| `")}
    for permission in Permission:
        row = rows[permission.value]
        for capability, members in permission.members.items():
            assert all(f"`ctx.{capability}.{m}`" in row for m in members), permission

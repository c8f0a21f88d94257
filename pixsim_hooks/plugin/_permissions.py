"""The canonical permissions and the capability members each one unlocks.

A permission is a high-level intent (``session:write``); a capability member is a concrete method on one of the
context's surfaces (``ctx.session.set_flag``). :data:`CAPABILITY_MEMBERS` is the single table the proxies' allowlists
are built from; hook-level permissions (``event:subscribe``, ``routes:register``, ...) are named by the hookspecs'
contracts instead. Manifests may name a whole group as ``"<group>:*"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "CAPABILITIES",
    "CAPABILITY_MEMBERS",
    "Permission",
    "member_requirements",
    "resolve_permissions",
]


class Permission(StrEnum):
    """Every permission a manifest may ask for. ``.group`` is the part before the colon."""

    WORLD_READ = "world:read"
    SESSION_READ = "session:read"
    SESSION_WRITE = "session:write"
    NPC_READ = "npc:read"
    BEHAVIOR_EXTEND_CONDITIONS = "behavior:extend_conditions"
    BEHAVIOR_EXTEND_EFFECTS = "behavior:extend_effects"
    BEHAVIOR_EXTEND_SCORING = "behavior:extend_scoring"
    BEHAVIOR_SUGGEST_ACTIVITIES = "behavior:suggest_activities"
    BEHAVIOR_CONFIGURE_SIMULATION = "behavior:configure_simulation"
    GENERATION_SUBMIT = "generation:submit"
    LOG_EMIT = "log:emit"
    EVENT_SUBSCRIBE = "event:subscribe"
    ROUTES_REGISTER = "routes:register"
    ADMIN_ROUTES = "admin:routes"
    MIDDLEWARE_HTTP = "middleware:http"

    @property
    def group(self) -> str:
        return self.value.partition(":")[0]

    @property
    def members(self) -> Mapping[str, frozenset[str]]:
        """The capability members this permission unlocks, by capability (empty for hook-level permissions)."""
        return CAPABILITY_MEMBERS.get(self, _NO_MEMBERS)

    @classmethod
    def group_members(cls, group: str) -> frozenset[Permission]:
        return frozenset(p for p in cls if p.group == group)


_NO_MEMBERS: Mapping[str, frozenset[str]] = MappingProxyType({})

CAPABILITIES: tuple[str, ...] = ("world", "session", "npc", "behavior", "generation", "log")
"""The capability surfaces of every context, in display order."""

CAPABILITY_MEMBERS: Mapping[Permission, Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        Permission.WORLD_READ: {"world": frozenset({"get_world", "get_location", "list_locations"})},
        Permission.SESSION_READ: {"session": frozenset({"get_session", "get_flag"})},
        Permission.SESSION_WRITE: {
            "session": frozenset({"set_flag", "set_flags", "delete_flag", "adjust_relationship"})
        },
        Permission.NPC_READ: {"npc": frozenset({"get_npc", "list_npcs"})},
        Permission.BEHAVIOR_EXTEND_CONDITIONS: {"behavior": frozenset({"register_condition_evaluator"})},
        Permission.BEHAVIOR_EXTEND_EFFECTS: {"behavior": frozenset({"register_effect_handler"})},
        Permission.BEHAVIOR_EXTEND_SCORING: {"behavior": frozenset({"register_scoring_factor"})},
        Permission.BEHAVIOR_CONFIGURE_SIMULATION: {"behavior": frozenset({"register_simulation_defaults"})},
        Permission.GENERATION_SUBMIT: {"generation": frozenset({"submit", "get"})},
        Permission.LOG_EMIT: {"log": frozenset({"debug", "info", "warning", "error"})},
    }
)


def resolve_permissions(requested: Iterable[str]) -> tuple[frozenset[Permission], tuple[str, ...]]:
    """Turn manifest strings into permissions. Returns ``(granted, unknown)``; unknown strings grant nothing."""
    granted: set[Permission] = set()
    unknown: list[str] = []
    values = {p.value: p for p in Permission}
    groups = {p.group for p in Permission}
    for raw in requested:
        group, _, rest = raw.partition(":")
        if raw in values:
            granted.add(values[raw])
        elif rest == "*" and group in groups:
            granted |= Permission.group_members(group)
        else:
            unknown.append(raw)
    return frozenset(granted), tuple(unknown)


def member_requirements() -> dict[str, dict[str, str]]:
    """capability -> member -> the permission that grants it (for denial messages)."""
    table: dict[str, dict[str, str]] = {cap: {} for cap in CAPABILITIES}
    for permission, by_cap in CAPABILITY_MEMBERS.items():
        for cap, members in by_cap.items():
            for member in members:
                table[cap][member] = permission.value
    return table

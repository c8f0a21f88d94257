"""Loading behavior JSON: version-1 migration, validation, cross-references, and errors that name the JSON path.

Everything the engine reads from world, NPC and session JSON goes through here, so bad data surfaces as one
:class:`~pixsim_hooks.ConfigError` (``.path`` like ``meta.behavior.activities[2].requirements.minEnergy``) before the
tick computes anything, never as a crash half-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pixsim_hooks.backend.behavior._config import (
    BEHAVIOR_VERSION,
    CONDITION_TYPES,
    BehaviorConfig,
    NpcBehavior,
    NpcState,
    Preferences,
)
from pixsim_hooks.plugin import PLUGIN_ID_PATTERN, ConfigError, NpcSnapshot, SessionSnapshot, thaw

__all__ = [
    "V1_CATEGORIES",
    "check_npc_meta",
    "check_world_meta",
    "format_path",
    "load_behavior",
    "migrate_v1",
    "parse_npc_behavior",
    "parse_session_npc",
    "validate",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
V1_CATEGORIES = ("work", "social", "leisure", "routine", "quest")
"""Version 1 had a fixed category list; migrating builds ``activityCategories`` from it."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLUGIN_ID = re.compile(PLUGIN_ID_PATTERN)
_VERSIONED = ("scoringConfig", "simulationConfig")


def format_path(root: str, loc: Iterable[str | int]) -> str:
    """``("activities", 2, "minEnergy")`` under ``meta.behavior`` → ``meta.behavior.activities[2].minEnergy``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f'["{part}"]'
    return path


def validate(model: type[ModelT], data: Any, root: str) -> ModelT:
    """``model.model_validate(data)``; the first error becomes a ConfigError naming its path under ``root``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        # A tagged union puts the tag (the condition type) in the location; the JSON path has no such step.
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part in CONDITION_TYPES)]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("type")
        path = format_path(root, loc)
        raise ConfigError(f"{path}: {error['msg']}", path=path) from None


# -- the world ------------------------------------------------------------------------------------------------------
def load_behavior(meta: Mapping[str, Any] | None) -> BehaviorConfig:
    """``GameWorld.meta.behavior`` as a checked version-2 config (a version-1 world is migrated first)."""
    raw = (meta or {}).get("behavior")
    if raw is None:
        return BehaviorConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError("meta.behavior: must be an object", path="meta.behavior")
    config = validate(BehaviorConfig, migrate_v1(thaw(raw)), "meta.behavior")
    check_references(config)
    return config


def _version(data: Mapping[str, Any]) -> int:
    version = data.get("version", 1)  # worlds written before versioning are version 1
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= BEHAVIOR_VERSION:
        path = "meta.behavior.version"
        raise ConfigError(f"{path}: unsupported behavior version {version!r} (this engine reads 1 and 2)", path=path)
    return version


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: categories from the old fixed list, empty ``customEffects``, every ``version`` set to 2.

    Only fills what is missing: a version-2 world passes through unchanged. Wrongly typed parts are left for
    validation to report.
    """
    if _version(data) == BEHAVIOR_VERSION:
        return data
    data.setdefault(
        "activityCategories", [{"id": c, "label": c.title(), "version": BEHAVIOR_VERSION} for c in V1_CATEGORIES]
    )
    for activity in _dicts(data.get("activities")):
        activity["version"] = BEHAVIOR_VERSION
        effects = activity.get("effects")
        if isinstance(effects, dict):
            effects.setdefault("customEffects", [])
    for routine in _dicts(data.get("routines")):
        routine["version"] = BEHAVIOR_VERSION
    for key in _VERSIONED:
        if isinstance(data.get(key), dict):
            data[key]["version"] = BEHAVIOR_VERSION
    data["version"] = BEHAVIOR_VERSION
    return data


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def check_references(config: BehaviorConfig) -> None:
    """Ids are unique and every reference (category, activity, routine node) names something defined."""
    root = "meta.behavior"
    categories = _unique([c.id for c in config.activity_categories], f"{root}.activityCategories")
    activities = _unique([a.id for a in config.activities], f"{root}.activities")
    for i, activity in enumerate(config.activities):
        if activity.category not in categories:
            _missing(f"{root}.activities[{i}].category", "activity category", activity.category)
    _unique([r.id for r in config.routines], f"{root}.routines")
    for r, routine in enumerate(config.routines):
        here = f"{root}.routines[{r}]"
        nodes = _unique([n.id for n in routine.nodes], f"{here}.nodes")
        for n, node in enumerate(routine.nodes):
            for p, preferred in enumerate(node.preferred_activities):
                if preferred.activity_id not in activities:
                    path = f"{here}.nodes[{n}].preferredActivities[{p}].activityId"
                    _missing(path, "activity", preferred.activity_id)
        for e, edge in enumerate(routine.edges):
            for field, node_id in (("fromNodeId", edge.from_node_id), ("toNodeId", edge.to_node_id)):
                if node_id not in nodes:
                    _missing(f"{here}.edges[{e}].{field}", "routine node", node_id)


def _unique(ids: list[str], path: str) -> set[str]:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise ConfigError(f"{path}[{i}].id: duplicate id {item!r}", path=f"{path}[{i}].id")
        seen.add(item)
    return seen


def _missing(path: str, what: str, value: str) -> None:
    raise ConfigError(f"{path}: no {what} {value!r} is defined", path=path)


# -- NPCs and session state -----------------------------------------------------------------------------------------
def parse_npc_behavior(npc: NpcSnapshot, config: BehaviorConfig) -> NpcBehavior:
    """``GameNPC.meta.behavior``; its ``routineId`` must name a routine of the world."""
    return _npc_behavior(npc.meta, config, f"GameNPC[{npc.id}].meta.behavior")


def _npc_behavior(meta: Mapping[str, Any], config: BehaviorConfig | None, root: str) -> NpcBehavior:
    behavior = validate(NpcBehavior, meta.get("behavior") or {}, root)
    routine = behavior.routine_id
    if config is not None and routine is not None and all(r.id != routine for r in config.routines):
        _missing(f"{root}.routineId", "routine", routine)
    return behavior


# -- checks at write time (the API's POST / PATCH): the engine's own validation, before anything is stored ---------
def check_world_meta(meta: Mapping[str, Any] | None) -> BehaviorConfig:
    """A world's ``meta`` as it is about to be written: ``meta.behavior`` as the engine reads it (ConfigError naming
    the JSON path), and ``enabledPlugins`` a list of plugin ids — where the host, reading what is already stored,
    fails closed (no plugin) on anything else, a write is refused instead."""
    config = load_behavior(meta)
    behavior = (meta or {}).get("behavior")
    if isinstance(behavior, Mapping) and "enabledPlugins" in behavior:
        enabled, path = behavior["enabledPlugins"], "meta.behavior.enabledPlugins"
        if not isinstance(enabled, list):
            raise ConfigError(f"{path}: must be a list of plugin ids (leave it out to enable every plugin)", path=path)
        for i, plugin_id in enumerate(enabled):
            if type(plugin_id) is not str or _PLUGIN_ID.fullmatch(plugin_id) is None:
                here = f"{path}[{i}]"
                raise ConfigError(f"{here}: {plugin_id!r} is not a plugin id ({PLUGIN_ID_PATTERN})", path=here)
    return config


def check_npc_meta(meta: Mapping[str, Any] | None, world_meta: Mapping[str, Any] | None) -> None:
    """An NPC's ``meta`` as it is about to be written, checked as the engine reads it; its ``routineId`` must name a
    routine of its world, unless the world's own behavior is already invalid (its error is the world's, and the
    tick reports it)."""
    try:
        config: BehaviorConfig | None = load_behavior(world_meta)
    except ConfigError:
        config = None
    _npc_behavior(meta or {}, config, "meta.behavior")


def npc_entries(session: SessionSnapshot) -> Mapping[str, Any]:
    """``flags.npcs``: the engine's per-NPC session data (absent → empty)."""
    entries = session.flags.get("npcs", {})
    if not isinstance(entries, Mapping):
        path = f"GameSession[{session.id}].flags.npcs"
        raise ConfigError(f"{path}: must be an object keyed 'npc:<id>'", path=path)
    return entries


def parse_session_npc(session: SessionSnapshot, npc_id: int) -> tuple[NpcState, Preferences | None]:
    """``flags.npcs["npc:<id>"]``: the NPC's state and its session preference override."""
    key = f"npc:{npc_id}"
    root = format_path(f"GameSession[{session.id}].flags.npcs", [key])
    entry = npc_entries(session).get(key, {})
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{root}: must be an object", path=root)
    state = validate(NpcState, thaw(entry.get("state") or {}), f"{root}.state")
    override = entry.get("preferences")
    preferences = None if override is None else validate(Preferences, override, f"{root}.preferences")
    return state, preferences

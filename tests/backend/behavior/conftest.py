"""Behavior-engine fixtures: worlds built from small JSON helpers on the real store, a loaded host, one-call ticks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pixsim_hooks import NpcSnapshot, PluginManifest, SessionSnapshot, WorldSnapshot
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend.behavior import TickReport, tick
from pixsim_hooks.host import PluginHost, Settings, create_host
from pixsim_hooks.plugin import SessionChange

HOUR = 3600.0


def manifest(pid: str, *permissions: str) -> PluginManifest:
    return PluginManifest(id=pid, name=pid, version="1.0.0", trust="first_party", permissions=permissions)


def activity(slug: str, category: str = "work", **extra: Any) -> dict[str, Any]:
    return {"id": f"activity:{slug}", "name": slug.title(), "category": category, "version": 2, **extra}


def all_day(*weights: tuple[str, float], routine_id: str = "routine:day", **extra: Any) -> dict[str, Any]:
    """A routine with one node covering the whole day, offering ``(slug, weight)`` activities."""
    preferred = [{"activityId": f"activity:{slug}", "weight": weight} for slug, weight in weights]
    node = {"id": "day", "nodeType": "time_slot", "timeRangeSeconds": {"start": 0, "end": 86400}}
    return {
        "id": routine_id,
        "name": "Day",
        "version": 2,
        "nodes": [{**node, "preferredActivities": preferred}],
        **extra,
    }


CATEGORIES = [{"id": c, "label": c.title()} for c in ("work", "social", "leisure", "routine", "quest", "romance")]


def behavior(
    activities: Sequence[dict[str, Any]], routines: Sequence[dict[str, Any]] = (), **extra: Any
) -> dict[str, Any]:
    """``meta`` of a version-2 world with these activities and routines (categories: work .. romance)."""
    return {
        "behavior": {
            "version": 2,
            "activityCategories": CATEGORIES,
            "activities": list(activities),
            "routines": list(routines),
            **extra,
        }
    }


def npc_meta(routine_id: str | None = "routine:day", **behavior_fields: Any) -> dict[str, Any]:
    fields = {"routineId": routine_id, **behavior_fields} if routine_id else behavior_fields
    return {"behavior": fields}


@dataclass
class Scene:
    storage: SqlStorage
    host: PluginHost
    world: WorldSnapshot
    npcs: list[NpcSnapshot]
    session: SessionSnapshot

    async def tick(self, seconds: float = 60.0, *, seed: int = 1) -> TickReport:
        return await tick(self.host, self.storage, self.session.id, seconds, seed=seed)

    async def current(self) -> SessionSnapshot:
        found = await self.storage.sessions.get_session(self.session.id)
        assert found is not None
        return found

    async def set_flags(self, **flags: Any) -> None:
        await self.storage.sessions.apply_change(self.session.id, SessionChange(set_flags=flags))

    async def set_state(self, state: dict[str, Any], index: int = 0, **entry: Any) -> None:
        """Give NPC ``index`` this session state (and ``preferences=`` override) before the next tick."""
        npcs = dict((await self.current()).flags.get("npcs", {}))
        npcs[f"npc:{self.npcs[index].id}"] = {"state": state, **entry}
        await self.set_flags(npcs=npcs)

    async def state(self, index: int = 0) -> dict[str, Any]:
        npc_key = f"npc:{self.npcs[index].id}"
        state: dict[str, Any] = (await self.current()).flags["npcs"][npc_key]["state"]
        return state


MakeScene = Callable[..., Awaitable[Scene]]


@pytest.fixture
def make_scene(storage: SqlStorage) -> MakeScene:
    """``await make_scene(meta, npcs=[npc_meta(...)], plugins=[...], flags=..., relationships=..., locations=...)``."""

    async def build(
        meta: dict[str, Any],
        *,
        npcs: Sequence[dict[str, Any]] = ({"behavior": {"routineId": "routine:day"}},),
        plugins: Sequence[object] = (),
        flags: dict[str, Any] | None = None,
        relationships: dict[str, Any] | None = None,
        locations: Sequence[tuple[str, dict[str, Any]]] = (),
        world_time: float = 0.0,
        settings: Settings | None = None,
    ) -> Scene:
        host = create_host(settings or Settings(), storage=storage, plugins=plugins, entry_points=[])
        await host.load()
        world = await storage.worlds.create_world("Harbor", meta)
        for name, location_meta in locations:
            await storage.worlds.create_location(world.id, name, location_meta)
        made = [await storage.npcs.create_npc(world.id, f"NPC {i}", m) for i, m in enumerate(npcs)]
        session = await storage.sessions.create_session(
            world.id, flags=flags, relationships=relationships, world_time=world_time
        )
        return Scene(storage, host, world, made, session)

    return build

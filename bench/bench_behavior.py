"""The behavior engine: one tick of 1,000 NPCs with 5 in-process plugins against the same tick with no plugins.

Both hosts tick fresh sessions of the same world on one temporary SQLite file (every NPC decides: nobody has state
yet), alternating, best of :data:`REPEAT`. Figures are nanoseconds per NPC decision, the whole tick included
(reads, validation, decisions, the one write). Two worlds: one where the plugins take part in every decision (a
condition, two scoring factors per candidate, a suggestion, an effect) without changing how much the engine does,
held to at least 0.8x the decisions per second; and one where they also open more candidates and effects (what a
world pays for what its plugins add; shown for information).
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._harness import Row, Target, print_rows, ratio_at_most
from pixsim_hooks import EffectWriter, PluginManifest, hookimpl
from pixsim_hooks.backend import SqlStorage, create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend.behavior import tick
from pixsim_hooks.host import PluginHost, Settings, create_host

NPCS, REPEAT = 1_000, 7


def _manifest(pid: str, permission: str) -> PluginManifest:
    return PluginManifest(id=pid, name=pid, version="1.0.0", trust="first_party", permissions=(permission,))


class Sky:
    manifest = _manifest("sky", "behavior:extend_conditions")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator(
            "clear", lambda ctx, params, view: view.world_meta.get("sky") == "clear"
        )


class Tokens:
    manifest = _manifest("tokens", "behavior:extend_effects")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_effect_handler("token", self.token)

    @staticmethod
    def token(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.set_flag("given", writer.get_flag("given", 0) + 1)


class Factor:
    def __init__(self, pid: str, favoured: str) -> None:
        self.manifest = _manifest(pid, "behavior:extend_scoring")
        self.favoured = favoured

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_scoring_factor("factor", self.factor)

    def factor(self, ctx: Any, activity: Any, view: Any) -> float:
        return 1.5 if activity["category"] == self.favoured else 1.0


class Suggest:
    manifest = _manifest("suggest", "behavior:suggest_activities")

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        return ["activity:stroll"]  # not an activity of every world: unknown ids are ignored


def plugins() -> list[object]:
    return [Sky(), Tokens(), Factor("social_bias", "social"), Factor("work_bias", "work"), Suggest()]


def _activity(slug: str, category: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"activity:{slug}", "name": slug, "category": category, **extra}


CLEAR_SKY = [{"type": "custom", "evaluatorId": "plugin:sky:clear"}]
TOKEN = [{"type": "effect:plugin:tokens:token"}]


def world(*, sky: str, stroll: bool) -> dict[str, Any]:
    """``sky="cloudy", stroll=False``: the plugins run on every decision but change no candidate (their condition
    is False, their suggestion names no activity of the world), so both hosts do the same engine work.
    ``sky="clear", stroll=True``: the plugins also open two more candidates per NPC and add an effect."""
    token_on = "chat" if stroll else "work"
    activities = [
        _activity(
            "work", "work", effects={"energyDeltaPerHour": -5, "customEffects": TOKEN if token_on == "work" else []}
        ),
        _activity(
            "chat",
            "social",
            requirements={"conditions": CLEAR_SKY},
            effects={"customEffects": TOKEN if token_on == "chat" else [], "moodImpact": {"valence": 2}},
        ),
        _activity("rest", "leisure", requirements={"conditions": [{"type": "energy_between", "min": 0, "max": 90}]}),
    ]
    if stroll:
        activities.append(_activity("stroll", "leisure"))
    node = {
        "id": "day",
        "nodeType": "time_slot",
        "timeRangeSeconds": {"start": 0, "end": 86400},
        "preferredActivities": [
            {"activityId": "activity:work", "weight": 0.6},
            {"activityId": "activity:chat", "weight": 0.5},
            {"activityId": "activity:rest", "weight": 0.3},
        ],
    }
    categories = [{"id": c, "label": c} for c in ("work", "social", "leisure")]
    routines = [{"id": "routine:day", "nodes": [node]}]
    return {
        "sky": sky,
        "behavior": {"version": 2, "activityCategories": categories, "activities": activities, "routines": routines},
    }


async def _host(storage: SqlStorage, with_plugins: bool) -> PluginHost:
    host = create_host(Settings(), storage=storage, plugins=plugins() if with_plugins else [], entry_points=[])
    await host.load()
    return host


async def _per_decision_ns(host: PluginHost, storage: SqlStorage, world_id: int) -> float:
    session = await storage.sessions.create_session(world_id)
    gc.collect()  # start each run with no garbage pending, so no run pays for an earlier one's collection
    start = time.perf_counter_ns()
    report = await tick(host, storage, session.id, 60, seed=1)
    elapsed = time.perf_counter_ns() - start
    assert report.decisions == NPCS, report.decisions
    return elapsed / report.decisions


async def _compare(
    storage: SqlStorage, hosts: tuple[PluginHost, PluginHost], meta: dict[str, Any]
) -> tuple[float, float]:
    """Best ns per decision (with plugins, without) on a world of :data:`NPCS` NPCs, alternating runs."""
    created = await storage.worlds.create_world("Bench", meta)
    for i in range(NPCS):
        await storage.npcs.create_npc(created.id, f"NPC {i}", {"behavior": {"routineId": "routine:day"}})
    for host in hosts:  # warm up: core registration, caches
        await _per_decision_ns(host, storage, created.id)
    best = [float("inf"), float("inf")]
    for _ in range(REPEAT):
        for i, host in enumerate(hosts):
            best[i] = min(best[i], await _per_decision_ns(host, storage, created.id))
    return best[0], best[1]


def _row(row_id: str, measured: float, baseline: float, target: Target | None, what: str) -> Row:
    rates = f"{1e9 / measured:,.0f} vs {1e9 / baseline:,.0f} decisions/s; {what}"
    return Row(row_id, measured, "the same tick, no plugins", baseline, target, rates)


async def _measure(url: str) -> list[Row]:
    engine = create_engine(url)
    await create_schema(engine)
    storage = SqlStorage(create_sessionmaker(engine))
    hosts = await _host(storage, True), await _host(storage, False)
    same = await _compare(storage, hosts, world(sky="cloudy", stroll=False))
    more = await _compare(storage, hosts, world(sky="clear", stroll=True))
    await engine.dispose()
    return [
        # ns per NPC decision; at least 0.9x the decisions per second of the same tick without plugins
        _row(f"tick.{NPCS}.in_process", *same, ratio_at_most(1 / 0.9), "5 plugins taking part"),
        _row(f"tick.{NPCS}.in_process.adding_work", *more, None, "they add 2 candidates and 2 effects per NPC"),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"))


if __name__ == "__main__":
    print_rows("behavior", run())

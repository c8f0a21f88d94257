"""The behavior contrib plugins: weather (condition), inventory (effect), romance (scoring), sim_defaults (tiers),
each loaded by a real host and run through real ticks on the backend's store.

Every host-level test uses the test kit's ``pixsim`` fixture (pixsim_hooks.testing), so it runs three times: with the
plugins in-process, each in its own sandboxed child process, and each served over HTTP by
:func:`~pixsim_hooks.runtime.serve_plugin` (a real uvicorn server) — the same modules, the same manifests' ids and
permissions, the same assertions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from contrib_plugins import inventory, romance, sim_defaults, weather
from pixsim_hooks import NpcSnapshot, NpcView, SessionSnapshot
from pixsim_hooks.backend.behavior import TickReport
from pixsim_hooks.host import PluginState
from pixsim_hooks.testing import Harness
from tests.contrib_plugins.conftest import created

PLUGINS = (weather, inventory, romance, sim_defaults)
CATEGORIES = [{"id": c, "label": c} for c in ("work", "social", "leisure", "romance")]


@pytest.fixture
def pixsim_plugins() -> Sequence[object]:
    """All four under test, unless a test names its own (``under_test``)."""
    return PLUGINS


def under_test(*modules: object) -> pytest.MarkDecorator:
    """The test runs with only these plugins loaded (it overrides ``pixsim_plugins``)."""
    ids = "+".join(m.manifest.id for m in modules)  # type: ignore[attr-defined]
    return pytest.mark.parametrize("pixsim_plugins", [modules], ids=[ids])


def meta(
    activities: list[dict[str, Any]], weights: dict[str, float], *, behavior: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """World meta with one all-day routine offering ``weights``; ``behavior`` adds keys to ``meta.behavior``."""
    node = {
        "id": "day",
        "nodeType": "time_slot",
        "timeRangeSeconds": {"start": 0, "end": 86400},
        "preferredActivities": [{"activityId": a, "weight": w} for a, w in weights.items()],
    }
    routine = {"id": "routine:day", "nodes": [node]}
    config = {"version": 2, "activityCategories": CATEGORIES, "activities": activities, "routines": [routine]}
    return {"behavior": {**config, **(behavior or {})}, **extra}


def act(slug: str, category: str = "work", **fields: Any) -> dict[str, Any]:
    return {"id": f"activity:{slug}", "name": slug, "category": category, **fields}


async def world_with(pixsim: Harness, world_meta: dict[str, Any], npcs: int = 1) -> tuple[int, list[NpcSnapshot]]:
    world = await pixsim.world(meta=world_meta)
    made = [await pixsim.npc(world, name=f"N{i}", meta={"behavior": {"routineId": "routine:day"}}) for i in range(npcs)]
    return world.id, made


async def run(pixsim: Harness, world_id: int, **session: Any) -> tuple[TickReport, SessionSnapshot]:
    created_session = await pixsim.session(world_id, **session)
    report = await pixsim.tick(created_session, 60, seed=3)
    after = await pixsim.storage.sessions.get_session(created_session.id)
    assert after is not None
    return report, after


@pytest.mark.parametrize(
    ("pixsim_plugins", "permissions"),
    [
        ((weather,), ("behavior:extend_conditions",)),
        ((inventory,), ("behavior:extend_effects",)),
        ((romance,), ("behavior:extend_scoring",)),
        ((sim_defaults,), ("behavior:configure_simulation",)),
    ],
    ids=["weather", "inventory", "romance", "sim_defaults"],
)
async def test_each_plugin_asks_for_one_permission_and_loads_enabled(
    pixsim: Harness, permissions: tuple[str, ...]
) -> None:
    info = pixsim.info()
    assert info.manifest is not None
    assert (info.state, info.permissions, info.manifest.trust.value) == (
        PluginState.ENABLED,
        permissions,
        "first_party",
    )


async def test_all_four_register_their_namespaced_extensions(pixsim: Harness) -> None:
    host = pixsim.host
    assert [(e.kind.value, e.id) for e in host.behavior.entries()] == [
        ("condition", "plugin:weather:is_raining"),
        ("effect", "effect:plugin:inventory:give_item"),
        ("scoring", "plugin:romance:chemistry"),
    ]
    assert set(host.behavior.simulation_defaults()) == {"sim_defaults"}


# -- weather ------------------------------------------------------------------------------------------------------
def view(world_meta: dict[str, Any], **session: Any) -> NpcView:
    npc = NpcSnapshot(id=4, world_id=1, name="N")
    state = SessionSnapshot(id=1, world_id=1, world_time=0, version=1, **session)
    return NpcView(1, npc, state, world_meta, {"energy": 50}, {}, 0.0, "night")


@pytest.mark.parametrize(
    ("world_meta", "params", "raining"),
    [
        ({"weather": "rain"}, {}, True),
        ({"weather": {"condition": "Storm", "wind": 9}}, {}, True),
        ({"weather": "clear"}, {}, False),
        ({}, {}, False),
        ({"weather": 42}, {}, False),
        ({"weather": "storm"}, {"conditions": ["drizzle"]}, False),
    ],
)
def test_is_raining_reads_the_worlds_weather(world_meta: dict[str, Any], params: dict[str, Any], raining: bool) -> None:
    assert weather.is_raining(None, params, view(world_meta)) is raining  # type: ignore[arg-type]


@under_test(weather)
@pytest.mark.parametrize(("sky", "raining"), [("rain", True), ("clear", False)])
async def test_is_raining_answers_through_the_host_for_a_real_npc(pixsim: Harness, sky: str, raining: bool) -> None:
    world = await pixsim.world(meta={"weather": sky})
    assert await pixsim.condition("is_raining", npc=await pixsim.npc(world)) is raining
    assert pixsim.failures() == ()


@under_test(weather)
@pytest.mark.parametrize(("sky", "activity"), [("rain", "activity:read"), ("clear", "activity:walk")])
async def test_a_rainy_world_keeps_its_npcs_in(pixsim: Harness, sky: str, activity: str) -> None:
    rainy = [{"type": "custom", "evaluatorId": "plugin:weather:is_raining"}]
    acts = [act("read", requirements={"conditions": rainy}), act("walk")]
    world_id, _ = await world_with(pixsim, meta(acts, {"activity:read": 1000, "activity:walk": 0.001}, weather=sky))
    report, _ = await run(pixsim, world_id)
    assert report.rows[0].activity_id == activity


# -- inventory ----------------------------------------------------------------------------------------------------
GIVE = {"customEffects": [{"type": "effect:plugin:inventory:give_item", "params": {"item": "fish", "count": 2}}]}


@under_test(inventory)
async def test_give_item_stages_the_gift_on_top_of_the_sessions_own_count(pixsim: Harness) -> None:
    world = await pixsim.world()
    session = await pixsim.session(world, flags={"plugin:inventory:items": {"fish": 1, "rope": 1}})
    wrote = await pixsim.effect("give_item", {"item": "fish", "count": 2}, npc=await pixsim.npc(world), session=session)
    assert wrote is not None
    assert (wrote.flags, wrote.relationships) == ({"items": {"fish": 3, "rope": 1}}, {})
    assert await pixsim.flag(session, "items") == {"fish": 1, "rope": 1}  # staged only: a tick applies it


@under_test(inventory)
async def test_give_item_counts_every_gift_of_a_tick_in_the_plugins_own_flag(pixsim: Harness) -> None:
    world_id, _ = await world_with(pixsim, meta([act("fish", effects=GIVE)], {"activity:fish": 1}), npcs=3)
    report, session = await run(pixsim, world_id, flags={"plugin:inventory:items": {"fish": 1, "rope": 1}})
    assert session.flags["plugin:inventory:items"] == {"fish": 7, "rope": 1}
    assert all(row.plugins == ("inventory",) for row in report.rows)


@under_test(inventory)
@pytest.mark.parametrize("params", [{}, {"item": ""}, {"item": "fish", "count": 0}, {"item": "fish", "count": True}])
async def test_give_item_with_bad_params_fails_and_gives_nothing(pixsim: Harness, params: dict[str, Any]) -> None:
    bad = {"customEffects": [{"type": "effect:plugin:inventory:give_item", "params": params}]}
    world_id, _ = await world_with(pixsim, meta([act("fish", effects=bad)], {"activity:fish": 1}))
    report, session = await run(pixsim, world_id)
    assert "plugin:inventory:items" not in session.flags
    assert report.rows[0].failed_plugins == ("inventory",)
    assert [(f.where, f.outcome.value) for f in pixsim.failures()] == [("effect:plugin:inventory:give_item", "error")]


# -- romance ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("activity", "chemistry", "factor"),
    [
        ({"category": "social"}, 50, 1.5),
        ({"category": "romance"}, 300, 2.0),
        ({"category": "social"}, -80, 0.5),
        ({"category": "work", "meta": {"romantic": True}}, 20, 1.2),
        ({"category": "work"}, 100, 1.0),
        ({"category": "social"}, None, 1.0),
    ],
)
def test_the_chemistry_factor_favours_romantic_activities_by_chemistry(
    activity: dict[str, Any], chemistry: float | None, factor: float
) -> None:
    relationships = {} if chemistry is None else {"npc:4": {"chemistry": chemistry}}
    assert romance.chemistry_factor(None, activity, view({}, relationships=relationships)) == pytest.approx(factor)  # type: ignore[arg-type]


@under_test(romance)
async def test_the_chemistry_factor_answers_through_the_host_for_a_real_npc(pixsim: Harness) -> None:
    world = await pixsim.world()
    npc = await pixsim.npc(world)
    session = await pixsim.session(world, relationships={f"npc:{npc.id}": {"chemistry": 50}})
    assert await pixsim.score("chemistry", {"category": "social"}, npc=npc, session=session) == pytest.approx(1.5)
    assert await pixsim.score("chemistry", {"category": "work"}, npc=npc, session=session) == pytest.approx(1.0)


@under_test(romance)
async def test_chemistry_multiplies_the_score_only_where_the_world_enables_romance(pixsim: Harness) -> None:
    scores = []
    for enabled in (["romance"], []):
        world_meta = meta([act("date", "social")], {"activity:date": 1}, behavior={"enabledPlugins": enabled})
        world_id, (npc,) = await world_with(pixsim, world_meta)
        report, _ = await run(pixsim, world_id, relationships={f"npc:{npc.id}": {"chemistry": 60}})
        scores.append(report.rows[0].score)
        assert report.rows[0].plugins == tuple(enabled)
    assert scores[0] == pytest.approx(scores[1] * 1.6)  # type: ignore[operator]


# -- sim_defaults -------------------------------------------------------------------------------------------------
@under_test(sim_defaults)
async def test_sim_defaults_tier_npcs_by_where_the_player_is(pixsim: Harness) -> None:
    world_id, npcs = await world_with(pixsim, meta([act("stay")], {"activity:stay": 1}), npcs=3)
    worlds = pixsim.storage.worlds
    square = await worlds.create_location(world_id, "Square", {})
    alley = await worlds.create_location(world_id, "Alley", {"nearbyLocationIds": [square.id]})
    far = await worlds.create_location(world_id, "Farm", {})
    states = {
        f"npc:{n.id}": {"state": {"locationId": where.id}} for n, where in zip(npcs, (square, alley, far), strict=True)
    }
    report, _ = await run(pixsim, world_id, flags={"location_id": square.id, "npcs": states})
    assert [(row.tier, row.detail_level) for row in report.rows] == [
        ("same_location", "full"),
        ("nearby", "simplified"),
        ("far_away", "schedule_only"),
    ]


@under_test(sim_defaults)
async def test_a_worlds_own_simulation_config_wins_over_sim_defaults(pixsim: Harness) -> None:
    own = {"tiers": [{"id": "far_away", "tickFrequencySeconds": 0, "detailLevel": "full"}]}
    world_id, _ = await world_with(
        pixsim, meta([act("stay")], {"activity:stay": 1}, behavior={"simulationConfig": own})
    )
    report, _ = await run(pixsim, world_id)
    assert (report.rows[0].tier, report.rows[0].detail_level) == ("far_away", "full")


# -- all four over HTTP -------------------------------------------------------------------------------------------
async def test_all_four_take_part_in_an_http_tick(pixsim: Harness) -> None:
    client = pixsim.client
    date = act(
        "date",
        "social",
        requirements={"conditions": [{"type": "custom", "evaluatorId": "plugin:weather:is_raining"}]},
        effects=GIVE,
    )
    body = {"name": "W", "meta": meta([date], {"activity:date": 1}, weather="rain")}
    world = await created(client, "/api/v1/worlds", body)
    npc = await created(
        client,
        f"/api/v1/worlds/{world['id']}/npcs",
        {"name": "Ana", "meta": {"behavior": {"routineId": "routine:day"}}},
    )
    session = await created(
        client, "/api/v1/sessions", {"world_id": world["id"], "relationships": {f"npc:{npc['id']}": {"chemistry": 10}}}
    )
    report = await created(client, f"/api/v1/sessions/{session['id']}/tick", {"seconds": 60, "seed": 1})
    row = report["rows"][0]
    assert (row["tier"], row["activity_id"]) == ("far_away", "activity:date")  # schedule_only: no scoring factor
    assert row["plugins"] == ["inventory", "weather"]
    stored = (await client.get(f"/api/v1/sessions/{session['id']}")).json()
    assert stored["flags"]["plugin:inventory:items"] == {"fish": 2}

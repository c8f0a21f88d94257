"""``POST /sessions/{id}/tick`` end to end: the backend app with its lifespan and real plugins of every extension
kind, over in-process HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pixsim_hooks import EffectWriter, SessionUpdated, WorldTimeAdvanced, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import PluginState, Settings
from tests.backend.behavior.conftest import activity, all_day, behavior, manifest
from tests.backend.conftest import Recorder


class Everything:
    """One plugin per extension kind would do; one plugin with all of them keeps the test small."""

    manifest = manifest(
        "kit",
        "behavior:extend_conditions",
        "behavior:extend_effects",
        "behavior:extend_scoring",
        "behavior:suggest_activities",
        "behavior:configure_simulation",
    )

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("sunny", self.sunny)
        ctx.behavior.register_effect_handler("stamp", self.stamp)
        ctx.behavior.register_scoring_factor("picky", self.picky)
        ctx.behavior.register_simulation_defaults(
            {"tiers": [{"id": "kit_tier", "tickFrequencySeconds": 0}], "defaultTier": "kit_tier"}
        )

    async def sunny(self, ctx: Any, params: Any, view: Any) -> bool:
        await asyncio.sleep(0)
        return bool(view.world_meta.get("sky") == "sun")

    def stamp(self, ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.set_flag("stamps", [*writer.get_flag("stamps", ()), view.npc.id])

    def picky(self, ctx: Any, activity: Any, view: Any) -> float:
        return 50.0 if activity["id"] == "activity:picnic" else 1.0

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> list[str]:
        return ["activity:picnic"]


class Thief:
    """Tries to register under another plugin's namespace."""

    manifest = manifest("thief", "behavior:extend_effects")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_effect_handler("effect:plugin:kit:stamp", lambda *a: None)


class Greedy:
    """Registers a scoring factor without behavior:extend_scoring."""

    manifest = manifest("greedy", "behavior:extend_conditions")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_scoring_factor("cheat", lambda *a: 100.0)


def world_meta(**extra: Any) -> dict[str, Any]:
    sunny = {"type": "custom", "evaluatorId": "plugin:kit:sunny"}
    acts = [
        activity("work"),
        activity(
            "picnic",
            "leisure",
            requirements={"conditions": [sunny]},
            effects={"customEffects": [{"type": "effect:plugin:kit:stamp"}]},
        ),
    ]
    return {**behavior(acts, [all_day(("work", 1.0))]), **extra}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    recorder = Recorder()
    app = create_app(
        Settings(database_url=database_url),
        publish=recorder,
        plugins=[Everything(), Thief(), Greedy()],
        entry_points=[],
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        client.recorder = recorder  # type: ignore[attr-defined]
        yield client


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def session_in(client: httpx.AsyncClient, meta: dict[str, Any], npcs: int = 2) -> dict[str, Any]:
    world = await post(client, "/worlds", {"name": "W", "meta": meta})
    for i in range(npcs):
        await post(
            client, f"/worlds/{world['id']}/npcs", {"name": f"N{i}", "meta": {"behavior": {"routineId": "routine:day"}}}
        )
    return await post(client, "/sessions", {"world_id": world["id"]})


async def test_a_tick_over_http_runs_every_kind_of_plugin_extension(api: httpx.AsyncClient) -> None:
    session = await session_in(api, world_meta(sky="sun"))
    report = await post(api, f"/sessions/{session['id']}/tick", {"seconds": 90, "seed": 7}, status=200)
    assert (report["world_time_before"], report["world_time_after"], report["version"]) == (0, 90, 2)
    rows = report["rows"]
    assert [row["tier"] for row in rows] == ["kit_tier", "kit_tier"]  # simulation defaults
    assert [row["activity_id"] for row in rows] == ["activity:picnic"] * 2  # suggested, condition held, scored up
    assert all(row["suggested"] and row["plugins"] == ["kit"] and row["status"] == "started" for row in rows)
    stored = (await api.get(f"/sessions/{session['id']}")).json()
    npc_ids = [row["npc_id"] for row in rows]
    assert stored["flags"]["plugin:kit:stamps"] == npc_ids  # the effect; the second saw the first's write
    assert set(stored["flags"]["npcs"]) == {f"npc:{i}" for i in npc_ids}


async def test_the_tick_publishes_the_session_events(api: httpx.AsyncClient) -> None:
    session = await session_in(api, world_meta())
    await post(api, f"/sessions/{session['id']}/tick", {"seconds": 5, "seed": 1}, status=200)
    recorder: Recorder = api.recorder  # type: ignore[attr-defined]
    assert recorder.of(SessionUpdated)[-1].changed == ("flags", "world_time")
    assert recorder.of(WorldTimeAdvanced)[-1].current == 5


async def test_a_world_that_disables_the_plugin_gets_none_of_its_extensions(api: httpx.AsyncClient) -> None:
    meta = world_meta(sky="sun")
    meta["behavior"]["enabledPlugins"] = []
    session = await session_in(api, meta)
    report = await post(api, f"/sessions/{session['id']}/tick", {"seconds": 60, "seed": 7}, status=200)
    assert {row["tier"] for row in report["rows"]} == {"default"}
    assert {row["activity_id"] for row in report["rows"]} == {"activity:work"}
    assert all(row["plugins"] == [] and not row["suggested"] for row in report["rows"])
    stored = (await api.get(f"/sessions/{session['id']}")).json()
    assert not any(key.startswith("plugin:") for key in stored["flags"])


async def test_bad_world_json_already_stored_is_a_422_at_the_tick_naming_the_path_and_nothing_is_written(
    api: httpx.AsyncClient,
) -> None:
    session = await session_in(api, world_meta())
    # Stored before write-time validation existed (or by hand): written straight to the store, past the API's check.
    meta = world_meta()
    meta["behavior"]["activities"][1]["requirements"]["minEnergy"] = 101
    await api.app.state.storage.worlds.update_world(session["world_id"], meta=meta)  # type: ignore[attr-defined]
    response = await api.post(f"/sessions/{session['id']}/tick", json={"seconds": 60, "seed": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["meta", "behavior", "activities", 1, "requirements", "minEnergy"]
    assert "activities[1].requirements.minEnergy" in problem["detail"]
    stored = (await api.get(f"/sessions/{session['id']}")).json()
    assert (stored["version"], stored["world_time"], stored["flags"]) == (1, 0, {})


@pytest.mark.parametrize(
    "body", [{"seconds": 0, "seed": 1}, {"seconds": -1, "seed": 1}, {"seconds": 5}, {"seconds": 5, "seed": 1.5}]
)
async def test_a_tick_needs_positive_seconds_and_an_integer_seed(api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    session = await session_in(api, world_meta(), npcs=0)
    assert (await api.post(f"/sessions/{session['id']}/tick", json=body)).status_code == 422


async def test_ticking_a_missing_session_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.post("/sessions/999/tick", json={"seconds": 1, "seed": 1})).status_code == 404


async def test_registering_in_another_namespace_or_without_the_permission_is_refused(api: httpx.AsyncClient) -> None:
    host = api.app.state.host  # type: ignore[attr-defined]
    for pid, cause in (
        ("thief", "outside the plugin's namespace"),
        ("greedy", "lacks permission 'behavior:extend_scoring'"),
    ):
        info = host.plugin(pid)
        assert info.state is PluginState.QUARANTINED and cause in (info.reason or "")
    assert {e.plugin_id for e in host.behavior.entries()} == {"kit"}  # the core registers on the first tick

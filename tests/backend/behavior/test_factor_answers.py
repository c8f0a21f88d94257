"""An in-process scoring factor's answer is held to the rule an out-of-process one is (red-team 37, decision 15).

Through ``POST /sessions/{id}/tick``: a factor that raises, answers NaN, a negative number, a 400-digit integer (whose
``float()`` overflows), a bool or a float subclass counts as the neutral 1.0, is recorded against the plugin, and the
request answers 200. The expected scores come from behavior-model.md ("Scoring"), worked by hand below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pixsim_hooks import hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import PluginHost, Settings
from tests.backend.behavior.conftest import activity, all_day, behavior, manifest


class Lofty(float):
    """A float whose own methods lie: exact-type checks must not take it for a number."""

    def __gt__(self, other: object) -> bool:
        return False


ANSWERS: dict[str, Any] = {
    "two_and_a_half": 2.5,
    "nan": float("nan"),
    "negative": -3.0,
    "huge_int": 10**400,
    "bool": True,
    "subclass": Lofty(2.5),
    "too_big": 1e7,
}


class Weigher:
    manifest = manifest("weigher", "behavior:extend_scoring")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_scoring_factor("weighs", self.weighs)

    def weighs(self, ctx: Any, activity: Any, view: Any) -> Any:
        answer = view.world_meta["answer"]
        if answer == "raise":
            raise RuntimeError("the factor broke")
        return ANSWERS[answer]


def world_meta(answer: str) -> dict[str, Any]:
    return {"answer": answer, **behavior([activity("work")], [all_day(("work", 1))])}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, PluginHost]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'tick.sqlite3'}")
    app = create_app(settings, plugins=[Weigher()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            yield client, app.state.host


async def tick_row(client: httpx.AsyncClient, answer: str) -> dict[str, Any]:
    world = (await client.post("/worlds", json={"name": answer, "meta": world_meta(answer)})).json()
    npc_meta = {"behavior": {"routineId": "routine:day"}}
    assert (await client.post(f"/worlds/{world['id']}/npcs", json={"name": "Ana", "meta": npc_meta})).is_success
    session = (await client.post("/sessions", json={"world_id": world["id"]})).json()
    response = await client.post(f"/sessions/{session['id']}/tick", json={"seconds": 60, "seed": 1})
    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    return dict(row)


async def test_a_factor_in_range_multiplies_the_score(api: tuple[httpx.AsyncClient, PluginHost]) -> None:
    """Base 1 (node weight) x activity preference 0.5 (none authored) x category preference 1 + (0.5 - 1) x 0.8 =
    0.6 x traits, mood, relationship, urgency 1 = 0.3; the plugin's 2.5 at its default weight 1.0 makes it 0.75."""
    client, _ = api
    row = await tick_row(client, "two_and_a_half")
    assert (row["activity_id"], row["failed_plugins"]) == ("activity:work", [])
    assert row["score"] == pytest.approx(0.75)


@pytest.mark.parametrize("answer", ["raise", "nan", "negative", "huge_int", "bool", "subclass", "too_big"])
async def test_a_factor_that_fails_or_answers_no_multiplier_counts_as_neutral_and_is_recorded(
    api: tuple[httpx.AsyncClient, PluginHost], answer: str
) -> None:
    client, host = api
    row = await tick_row(client, answer)
    assert row["activity_id"] == "activity:work"
    assert row["score"] == pytest.approx(0.3)  # the 0.3 above, times the neutral 1.0
    assert host.health.view("weigher").recent[-1].where == "plugin:weigher:weighs"

"""Sandboxed plugins that answer valid JSON out of contract, and ones that speak unasked (red-team 23, 24, 37, 38):
real plugins (``tests/runtime/hostile_plugins.py``: ``Liar``, ``Chatter``) in real children.

For every bad answer: the call falls back (False, the neutral 1.0, no writes, nothing suggested), the failure is
recorded against the plugin with outcome ``error``, the host (and, for a bad value, the child: its channel is in
step) stays up and answers the next call. A frame nobody asked for is believed by no one: the child is killed at
once, the violation recorded, and the call after the restart is answered by the new child. Through a real HTTP tick,
a factor answering a 400-digit integer leaves ``POST /sessions/{id}/tick`` a 200 with that factor neutral."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pixsim_hooks import EffectWriter, NpcSnapshot, NpcView, SessionSnapshot
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import PluginHost, Settings
from pixsim_hooks.plugin import BehaviorEntry, ExtensionKind
from pixsim_hooks.runtime import ProcessPlugin
from tests.backend.behavior.conftest import activity, all_day, behavior
from tests.runtime.hostile_plugins import ANSWER_KEYS, DEFAULTS_BASE
from tests.runtime.sandboxed import MAX_LAG_S, Run, attack, child, dies, failures, restarted, running

pytestmark = pytest.mark.needs("bubblewrap")
FAILED = "failed"  # the fallback the tests pass: only a call that failed returns it


def view(answer: str = "two", npc_id: int = 5, name: str = "Ada") -> NpcView:
    session = SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1)
    npc = NpcSnapshot(id=npc_id, world_id=1, name=name)
    return NpcView(1, npc, session, {"answer": answer}, {}, {}, 0.0, "morning")


def extension(host: PluginHost, kind: ExtensionKind, full_id: str) -> BehaviorEntry:
    entry = host.behavior.get(kind, full_id)
    assert entry is not None, f"{full_id} was not registered"
    return entry


def only_failure(host: PluginHost, where: str) -> str:
    """The one failure recorded against the liar: at ``where``, outcome error, an invalid result; its message."""
    [record] = host.health.view("liar").recent
    assert (record.plugin_id, record.where, record.outcome) == ("liar", where, "error")
    assert record.exc_type == "RemotePluginError"
    assert failures(host, "liar") == {"error": 1}
    return record.message


async def still_up(host: PluginHost, sandbox: Any) -> None:
    """The child was not killed for a bad value (same process) and answers the next call as before."""
    assert child(host, "liar") == sandbox and running(sandbox)
    factor = extension(host, ExtensionKind.SCORING, "plugin:liar:weighs")
    assert await host.call_extension(factor, {}, view("two"), fallback=FAILED) == 2.5


# -- 37: values out of the contract of what was asked ------------------------------------------------------------------
@pytest.mark.parametrize("answer", ["huge_int", "huge_float", "negative", "string", "bool", "dict", "list", "none"])
async def test_a_scoring_factor_answering_out_of_range_falls_back_and_is_recorded(run: Run, answer: str) -> None:
    host = await run("Liar")
    sandbox = child(host, "liar")
    factor = extension(host, ExtensionKind.SCORING, "plugin:liar:weighs")
    assert await host.call_extension(factor, {}, view("two"), fallback=FAILED) == 2.5  # the control: in range
    assert await host.call_extension(factor, {}, view(answer), fallback=FAILED) == FAILED
    assert "not a finite number from 0 to 1e+06" in only_failure(host, "plugin:liar:weighs")
    await still_up(host, sandbox)


@pytest.mark.parametrize("answer", ["dict", "huge_int", "string", "none", "list"])
async def test_a_condition_answering_anything_but_a_boolean_falls_back_and_is_recorded(run: Run, answer: str) -> None:
    host = await run("Liar")
    sandbox = child(host, "liar")
    condition = extension(host, ExtensionKind.CONDITION, "plugin:liar:claims")
    assert await host.call_extension(condition, {"answer": "true"}, view(), fallback=FAILED) is True  # the control
    assert await host.call_extension(condition, {"answer": answer}, view(), fallback=FAILED) == FAILED
    assert "not true or false" in only_failure(host, "plugin:liar:claims")
    await still_up(host, sandbox)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("huge_delta", "within ±100"),
        ("leading_zero_npc", "in ASCII digits"),  # npc:05 is a look-alike of npc:5, no key of its own
        ("arabic_digit_npc", "in ASCII digits"),
        ("unknown_metric", "one of ['affinity', 'chemistry', 'tension', 'trust']"),
        ("huge_flag", "integers within ±(2**53 - 1)"),
        ("other_key", 'only "flags" and "relationships"'),
        ("string", 'only "flags" and "relationships"'),
    ],
)
async def test_an_effect_answering_bad_writes_applies_none_of_them(run: Run, answer: str, says: str) -> None:
    host = await run("Liar")
    sandbox = child(host, "liar")
    effect = extension(host, ExtensionKind.EFFECT, "effect:plugin:liar:writes")
    control = EffectWriter("liar")
    assert await host.call_extension(effect, {"answer": "writes"}, view(), control, fallback=FAILED) is None
    staged = control.seal()
    assert (dict(staged.flags), {k: dict(v) for k, v in staged.relationships.items()}) == (
        {"plugin:liar:x": 1},
        {"npc:5": {"trust": 5.0}},
    )
    writer = EffectWriter("liar")
    assert await host.call_extension(effect, {"answer": answer}, view(), writer, fallback=FAILED) == FAILED
    staged = writer.seal()
    assert (dict(staged.flags), dict(staged.relationships)) == ({}, {})  # nothing staged, not even the valid part
    assert says in only_failure(host, "effect:plugin:liar:writes")
    await still_up(host, sandbox)


@pytest.mark.parametrize(("name", "says"), [("ten_thousand", "an array of 10000 items"), ("long_id", "5009")])
async def test_too_many_or_too_long_suggestions_are_nothing_suggested_and_recorded(
    run: Run, name: str, says: str
) -> None:
    host = await run("Liar")
    sandbox = child(host, "liar")
    session = SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1)

    async def suggest(npc_name: str) -> list[Any]:
        npc = NpcSnapshot(id=5, world_id=1, name=npc_name)
        return list(await host.hook.suggest_activities(world_id=1, npc=npc, session=session))

    assert await suggest("picnic") == [["activity:picnic"]]  # the control
    assert await suggest(name) == []  # the plugin suggests nothing
    assert says in only_failure(host, "suggest_activities")
    await still_up(host, sandbox)


async def test_simulation_defaults_that_are_not_an_object_are_nothing_offered_and_recorded(run: Run) -> None:
    host = await run("Liar")
    sandbox = child(host, "liar")
    offered = await host.hook.provide_simulation_defaults(world_id=DEFAULTS_BASE + ANSWER_KEYS.index("defaults"))
    assert offered == [{"defaultTier": "x"}]  # the control
    assert await host.hook.provide_simulation_defaults(world_id=DEFAULTS_BASE + ANSWER_KEYS.index("list")) == []
    assert "an array of 2 items, not null or an object" in only_failure(host, "provide_simulation_defaults")
    await still_up(host, sandbox)


# -- 24, 38: frames nobody asked for ---------------------------------------------------------------------------------
def unasked(host: PluginHost) -> list[tuple[str, str]]:
    """(where, type) of the failures recorded against the chatter, each checked to name the unasked frame."""
    recent = host.health.view("chatter").recent
    assert recent and all("sent a frame nobody asked for" in r.message for r in recent), recent
    return [(r.where, r.exc_type) for r in recent]


async def answers_after_restart(host: PluginHost, killed: Any) -> None:
    """A new child, and its answer is its own: not the forged ``{"forged": 1}`` the old one sent unasked."""
    assert await restarted(host, "chatter")
    assert child(host, "chatter") != killed
    [answer] = await host.hook.provide_simulation_defaults(world_id=2)
    assert set(answer) == {"pid", "cwd"}


async def test_a_second_frame_for_one_request_is_believed_by_no_one_and_the_child_killed(run: Run) -> None:
    """The chatter writes its answer and a forged answer to the host's next request in one write: the host refuses
    both (the answer came with the violation), kills it, and the next call's answer is not the forged one."""
    host = await run("Chatter")
    sandbox = child(host, "chatter")
    results, _, lag = await attack(host, world_id=0)
    assert results == []
    assert lag < MAX_LAG_S
    assert unasked(host) == [("provide_simulation_defaults", "ProtocolError")]
    assert await dies(sandbox)
    await answers_after_restart(host, sandbox)


async def test_a_frame_while_the_host_awaits_nothing_kills_the_child_at_once(run: Run) -> None:
    """The chatter answers honestly, then, while the host asks it nothing, writes a forged answer to the request
    the host would send next. It is killed then (not at its next call) and recorded, with no call in progress."""
    host = await run("Chatter")
    sandbox = child(host, "chatter")
    [answer] = await host.hook.provide_simulation_defaults(world_id=1)
    assert set(answer) == {"pid", "cwd"} and failures(host, "chatter") == {}
    Path(answer["cwd"], "go").touch()  # noqa: ASYNC240 - the go-ahead; the host sends the chatter nothing meanwhile
    assert await dies(sandbox)  # no call was made: the host killed it as the frame arrived
    assert unasked(host) == [("channel", "ProtocolError")]
    await answers_after_restart(host, sandbox)


async def test_a_forged_answer_riding_behind_a_capability_request_is_never_taken_for_the_answer(run: Run) -> None:
    """A capability request and, in the same write, a forged result for the call: a host that queued the second
    frame would carry out the request and then take the forgery for the call's answer."""
    host = await run("Chatter")
    sandbox = child(host, "chatter")
    results, _, _ = await attack(host, world_id=3)
    assert results == []  # not [{"forged": 1}]
    assert {exc_type for _, exc_type in unasked(host)} == {"ProtocolError"}
    assert await dies(sandbox)
    await answers_after_restart(host, sandbox)


# -- 37 through a real tick: POST /sessions/{id}/tick -----------------------------------------------------------------
def world_meta(answer: str) -> dict[str, Any]:
    """One activity for every NPC; the liar's scoring factor answers ``answer`` (it reads the world's meta)."""
    return {"answer": answer, **behavior([activity("work")], [all_day(("work", 1))])}


@pytest.fixture
async def api(tmp_path: Path, no_leftover_processes: None) -> AsyncIterator[httpx.AsyncClient]:
    """The backend app with the liar sandboxed, its lifespan running, over in-process HTTP."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'tick.sqlite3'}", hook_deadline_ms=1500)
    app = create_app(settings, plugins=[ProcessPlugin("tests.runtime.hostile_plugins:Liar")], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            client.host = app.state.host  # type: ignore[attr-defined]
            yield client


async def created(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(url, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def tick_row(api: httpx.AsyncClient, answer: str) -> dict[str, Any]:
    world = await created(api, "/worlds", {"name": answer, "meta": world_meta(answer)})
    npc_meta = {"behavior": {"routineId": "routine:day"}}
    await created(api, f"/worlds/{world['id']}/npcs", {"name": "Ana", "meta": npc_meta})
    session = await created(api, "/sessions", {"world_id": world["id"]})
    response = await api.post(f"/sessions/{session['id']}/tick", json={"seconds": 60, "seed": 1})
    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    return dict(row)


async def test_a_tick_with_a_sandboxed_factor_answering_a_400_digit_integer_answers_200_with_it_neutral(
    api: httpx.AsyncClient,
) -> None:
    """The score of the one candidate, from behavior-model.md ("Scoring": each factor f blended by its weight w as
    1 + (f - 1) * w, default weights baseWeight 1.0, activityPreference 1.0, categoryPreference 0.8, plugin factors
    1.0): base 1 (node weight) * activity preference 0.5 (missing) * category preference 1 + (0.5 - 1) * 0.8 = 0.6
    (missing) * trait 1.0 (0.5 + a missing 0.5) * mood, relationship and urgency 1 = 0.3, times the plugin's
    factor: 0.75 for the control's 2.5, 0.3 when the factor counts as the neutral 1.0."""
    control = await tick_row(api, "two")
    assert (control["activity_id"], control["plugins"], control["failed_plugins"]) == ("activity:work", ["liar"], [])
    assert control["score"] == pytest.approx(0.75)
    for answer in ("huge_int", "huge_float", "negative", "string", "bool"):
        row = await tick_row(api, answer)
        assert (row["activity_id"], row["failed_plugins"]) == ("activity:work", ["liar"]), answer
        assert row["score"] == pytest.approx(0.3), answer  # the factor counted as the neutral 1.0
    host: PluginHost = api.host  # type: ignore[attr-defined]
    records = host.health.view("liar").recent
    assert [(r.where, r.outcome, r.exc_type) for r in records] == [
        ("plugin:liar:weighs", "error", "RemotePluginError")
    ] * 5
    assert "an integer of 401 digits" in records[0].message

"""The ``pixsim`` harness, in every tier: the plugin runs where the tier says, and each helper reaches it through the
host (its own context, world scoping, isolation and fallbacks) and reads back what it did.

The plugins are ``tests/testing/kit_plugins.py``; every test here runs in_process, process and remote."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pixsim_hooks import InteractionExecuted, SessionCreated, thaw
from pixsim_hooks.host import PluginState
from pixsim_hooks.testing import Harness, Tier
from tests.testing import kit_plugins


@pytest.fixture
def pixsim_plugins() -> Sequence[object]:
    return [kit_plugins]


with_broken = pytest.mark.parametrize("pixsim_plugins", [[kit_plugins, kit_plugins.broken]], ids=["with_broken"])


async def test_the_plugin_runs_where_the_tier_says_and_nothing_else_is_loaded(pixsim: Harness) -> None:
    expected = {Tier.IN_PROCESS: "in_process", Tier.PROCESS: "process (", Tier.REMOTE: "remote ("}[pixsim.tier]
    assert pixsim.host.runs_as("kit").startswith(expected)
    assert [info.id for info in pixsim.host.plugins()] == ["kit"]  # no installed entry point (the contrib ones)
    assert pixsim.state() is PluginState.ENABLED


async def test_a_world_enables_the_plugins_under_test_unless_told_otherwise(pixsim: Harness) -> None:
    assert (await pixsim.world()).meta["behavior"]["enabledPlugins"] == ("kit",)
    assert "enabledPlugins" not in (await pixsim.world(enabled=None)).meta["behavior"]
    assert (await pixsim.world(enabled=[], meta={"weather": "rain"})).meta == {
        "behavior": {"version": 2, "enabledPlugins": ()},
        "weather": "rain",
    }


async def test_an_emitted_event_reaches_the_hook_and_its_write_reads_back_by_the_short_key(pixsim: Harness) -> None:
    world = await pixsim.world()
    session = await pixsim.session(world)
    await pixsim.emit(SessionCreated(world.id, session))
    assert await pixsim.flag(session, "seen") == {"world": world.id}
    assert await pixsim.flags(session.id) == {"seen": {"world": world.id}}
    assert (await pixsim.storage.sessions.get_session(session.id)).flags == {"plugin:kit:seen": {"world": world.id}}  # type: ignore[union-attr]


async def test_an_event_in_a_world_that_does_not_enable_the_plugin_is_not_delivered(pixsim: Harness) -> None:
    world = await pixsim.world(enabled=["someone-else"])
    session = await pixsim.session(world)
    await pixsim.emit(SessionCreated(world.id, session))
    assert await pixsim.flag(session, "seen") is None


async def test_call_hook_returns_the_answers_through_the_hosts_dispatch(pixsim: Harness) -> None:
    answers = await pixsim.call_hook("provide_simulation_defaults", world_id=7)
    assert [thaw(a) for a in answers] == [{"tiers": [{"id": "kit", "tickFrequencySeconds": 7}]}]


async def test_a_condition_is_called_with_the_real_npc_and_answers(pixsim: Harness) -> None:
    world = await pixsim.world()
    npc = await pixsim.npc(world, name="Bo")
    assert await pixsim.condition("answer", {"answer": "Bo"}, npc=npc) is True
    assert await pixsim.condition("answer", {"answer": "Ana"}, npc=npc) is False
    assert pixsim.failures() == ()


async def test_a_failing_condition_falls_back_to_false_and_is_recorded(pixsim: Harness) -> None:
    npc = await pixsim.npc(await pixsim.world())
    assert await pixsim.condition("boom", npc=npc) is False
    [failure] = pixsim.failures()
    assert (failure.where, failure.outcome.value) == ("plugin:kit:boom", "error")
    assert "the kit's condition fails" in failure.message  # out of process: "RuntimeError: the kit's ..."


async def test_an_extension_of_a_world_that_does_not_enable_the_plugin_gets_the_fallback(pixsim: Harness) -> None:
    npc = await pixsim.npc(await pixsim.world(enabled=[]))
    assert await pixsim.condition("answer", {"answer": npc.name}, npc=npc) is False
    assert pixsim.failures() == ()


async def test_an_unknown_extension_is_an_error_naming_what_the_plugin_registered(pixsim: Harness) -> None:
    npc = await pixsim.npc(await pixsim.world())
    with pytest.raises(LookupError, match=r"no condition 'plugin:kit:nope'; it registered \['plugin:kit:answer'"):
        await pixsim.condition("nope", npc=npc)


async def test_an_effect_returns_what_it_staged_by_short_key_and_writes_nothing(pixsim: Harness) -> None:
    world = await pixsim.world()
    npc = await pixsim.npc(world)
    session = await pixsim.session(world, flags={"plugin:kit:notes": ["earlier"]})
    wrote = await pixsim.effect("note", {"text": "hello"}, npc=npc, session=session)
    assert wrote is not None
    assert wrote.flags == {"notes": ["earlier", "hello"]}
    assert wrote.relationships == {f"npc:{npc.id}": {"trust": 2.5}}
    assert await pixsim.flag(session, "notes") == ["earlier"]


async def test_a_failing_effect_gives_none_and_is_recorded(pixsim: Harness) -> None:
    npc = await pixsim.npc(await pixsim.world())
    assert await pixsim.effect("note", {}, npc=npc) is None  # params["text"] is missing
    assert [(f.where, f.outcome.value) for f in pixsim.failures()] == [("effect:plugin:kit:note", "error")]
    assert "'text'" in pixsim.failures()[0].message


async def test_a_scoring_factor_sees_the_npcs_state_from_the_session(pixsim: Harness) -> None:
    world = await pixsim.world()
    npc = await pixsim.npc(world)
    session = await pixsim.session(world, flags={"npcs": {f"npc:{npc.id}": {"state": {"energy": 75}}}})
    assert await pixsim.score("twice_the_energy", {"id": "activity:x"}, npc=npc, session=session) == 1.5
    assert await pixsim.score("twice_the_energy", {}, npc=npc, session=session, state={"energy": 25}) == 0.5


async def test_a_denial_is_recorded_against_the_plugin(pixsim: Harness) -> None:
    world = await pixsim.world()
    session = await pixsim.session(world)
    npc = await pixsim.npc(world)
    await pixsim.emit(InteractionExecuted(world.id, session.id, npc.id, "talk"))
    assert [d.where for d in pixsim.denials()][:1] == ["npc.get_npc"]
    assert pixsim.health().failures == {"denied": 1}


@with_broken
async def test_a_quarantine_is_read_back_and_the_other_plugin_still_runs(pixsim: Harness) -> None:
    assert pixsim.state("broken") is PluginState.QUARANTINED
    assert "broken on purpose" in (pixsim.info("broken").reason or "")
    assert pixsim.state("kit") is PluginState.ENABLED
    with pytest.raises(ValueError, match="2 plugins are under test"):
        pixsim.plugin_id  # noqa: B018


async def test_the_client_talks_to_the_same_backend_and_store(pixsim: Harness) -> None:
    world = await pixsim.world(name="Reef")
    response = await pixsim.client.get(f"/api/v1/worlds/{world.id}")
    assert (response.status_code, response.json()["name"]) == (200, "Reef")
    assert pixsim.url("/status") == "/api/v1/plugins/kit/status"

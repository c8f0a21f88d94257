"""Built-in effects and plugins' effect handlers through a real tick: what lands in the session, and what never does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pixsim_hooks import EffectWriter, NamespaceViolation, hookimpl
from tests.backend.behavior.conftest import HOUR, MakeScene, Scene, activity, all_day, behavior, manifest, npc_meta


def one_activity(**fields: Any) -> dict[str, Any]:
    return behavior([activity("act", **fields)], [all_day(("act", 1.0))])


async def test_starting_an_activity_applies_its_mood_relationship_and_flag_effects(make_scene: MakeScene) -> None:
    effects = {
        "moodImpact": {"valence": 10, "arousal": -5},
        "relationshipChanges": {"self": {"affinity": 2}, "role:friend": {"trust": 3, "tension": -1}},
        "flagsSet": {"quest:market": "visited", "counter": [1, 2]},
    }
    scene = await make_scene(one_activity(effects=effects), npcs=[npc_meta(), npc_meta(None, roles=["friend"])])
    me, friend = (f"npc:{n.id}" for n in scene.npcs)
    report = await scene.tick()
    assert report.rows[0].status == "started"
    session = await scene.current()
    assert session.relationships == {me: {"affinity": 2.0}, friend: {"trust": 3.0, "tension": -1.0}}
    assert (session.flags["quest:market"], session.flags["counter"]) == ("visited", (1, 2))
    assert (await scene.state())["moodState"] == {"valence": 10.0, "arousal": -5.0, "tags": ()}


async def test_carrying_on_with_an_activity_does_not_apply_its_effects_again(make_scene: MakeScene) -> None:
    scene = await make_scene(one_activity(effects={"relationshipChanges": {"self": {"affinity": 2}}}))
    await scene.tick()
    second = await scene.tick()
    assert second.rows[0].status == "continued"
    assert (await scene.current()).relationships == {f"npc:{scene.npcs[0].id}": {"affinity": 2.0}}


async def test_energy_per_hour_is_settled_for_the_time_actually_spent(make_scene: MakeScene) -> None:
    scene = await make_scene(one_activity(effects={"energyDeltaPerHour": -8}, minDurationSeconds=4 * HOUR))
    await scene.set_state({"energy": 60})
    await scene.tick(60)  # starts: no time spent yet
    assert (await scene.state())["energy"] == 60
    busy = await scene.tick(HOUR)
    assert busy.rows[0].status == "busy"
    assert (await scene.state())["energy"] == pytest.approx(52)
    await scene.tick(30 * HOUR)  # clamped at 0
    assert (await scene.state())["energy"] == 0


# -- plugin effects -------------------------------------------------------------------------------------------------
class Effector:
    """Registers ``effect:plugin:fx:<name>`` handlers given as keyword arguments."""

    def __init__(self, pid: str = "fx", **handlers: Any) -> None:
        self.manifest = manifest(pid, "behavior:extend_effects")
        self.handlers = handlers

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        for name, handler in self.handlers.items():
            ctx.behavior.register_effect_handler(name, handler)


def custom(*names: str, pid: str = "fx", **params: Any) -> dict[str, Any]:
    return {"customEffects": [{"type": f"effect:plugin:{pid}:{n}", "params": params} for n in names]}


def write_two(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
    writer.set_flag("first", params["value"])
    writer.set_flag("second", view.npc.name)
    writer.adjust_relationship(view.npc_key, "chemistry", 4)


def write_two_then_fail(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
    writer.set_flag("first", 1)
    writer.set_flag("second", 2)
    writer.adjust_relationship(view.npc_key, "trust", 9)
    raise RuntimeError("half-way")


async def written_flags(scene: Scene) -> dict[str, Any]:
    return {k: v for k, v in (await scene.current()).flags.items() if k.startswith("plugin:")}


async def test_a_plugin_effect_writes_its_namespaced_flags_and_relationships(make_scene: MakeScene) -> None:
    scene = await make_scene(one_activity(effects=custom("two", value=7)), plugins=[Effector(two=write_two)])
    report = await scene.tick()
    assert await written_flags(scene) == {"plugin:fx:first": 7, "plugin:fx:second": "NPC 0"}
    assert (await scene.current()).relationships == {f"npc:{scene.npcs[0].id}": {"chemistry": 4.0}}
    assert report.rows[0].plugins == ("fx",)


async def test_an_effect_that_raises_after_two_writes_leaves_no_partial_write(make_scene: MakeScene) -> None:
    effects = {"flagsSet": {"built_in": True}, **custom("bad", "good", value="ok")}
    scene = await make_scene(one_activity(effects=effects), plugins=[Effector(bad=write_two_then_fail, good=write_two)])
    report = await scene.tick()
    flags = await written_flags(scene)
    assert flags == {"plugin:fx:first": "ok", "plugin:fx:second": "NPC 0"}  # only the good effect's writes
    assert (await scene.current()).flags["built_in"] is True
    assert (await scene.current()).relationships == {f"npc:{scene.npcs[0].id}": {"chemistry": 4.0}}
    assert report.rows[0].failed_plugins == ("fx",)
    assert scene.host.health.of("fx").recent[-1].message == "half-way"


async def test_the_writer_refuses_use_once_its_handler_has_returned(make_scene: MakeScene) -> None:
    kept: list[EffectWriter] = []

    def keep(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        kept.append(writer)

    scene = await make_scene(one_activity(effects=custom("keep")), plugins=[Effector(keep=keep)])
    await scene.tick()
    with pytest.raises(RuntimeError, match="closed"):
        kept[0].set_flag("late", 1)
    with pytest.raises(RuntimeError, match="closed"):
        kept[0].adjust_relationship("npc:1", "trust", 1)


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [("plugin:other:loot", 1, NamespaceViolation), ("ok", float("nan"), ValueError), ("ok", object(), ValueError)],
    ids=["foreign-namespace", "nan", "not-json"],
)
async def test_a_write_outside_the_namespace_or_not_json_fails_the_effect(
    make_scene: MakeScene, key: str, value: Any, error: type[Exception]
) -> None:
    raised: list[Exception] = []

    def sneaky(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.set_flag("before", 1)
        try:
            writer.set_flag(key, value)
        except Exception as exc:
            raised.append(exc)
            raise

    scene = await make_scene(one_activity(effects=custom("sneaky")), plugins=[Effector(sneaky=sneaky)])
    await scene.tick()
    assert isinstance(raised[0], error)
    assert await written_flags(scene) == {}
    assert scene.host.health.of("fx").failures


async def test_a_relationship_delta_must_be_finite_and_name_an_npc_key(make_scene: MakeScene) -> None:
    def bad(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.adjust_relationship(params["key"], "trust", params["delta"])

    meta = behavior(
        [activity("a", effects=custom("bad", key="player", delta=1))],
        [all_day(("a", 1.0))],
    )
    scene = await make_scene(meta, plugins=[Effector(bad=bad)])
    await scene.tick()
    assert (await scene.current()).relationships == {}
    assert "npc_key" in scene.host.health.of("fx").recent[-1].message


async def test_relationship_deltas_at_the_bounds_land_in_the_session(make_scene: MakeScene) -> None:
    def extremes(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.adjust_relationship(view.npc_key, "affinity", 100)
        writer.adjust_relationship(view.npc_key, "tension", -100)

    scene = await make_scene(one_activity(effects=custom("extremes")), plugins=[Effector(extremes=extremes)])
    await scene.tick()
    assert (await scene.current()).relationships == {f"npc:{scene.npcs[0].id}": {"affinity": 100.0, "tension": -100.0}}


async def test_a_delta_just_over_the_bound_drops_the_whole_effect(make_scene: MakeScene) -> None:
    def overreach(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        writer.set_flag("tried", True)
        writer.adjust_relationship(view.npc_key, "affinity", 1)
        writer.adjust_relationship(view.npc_key, "trust", 100.0001)

    scene = await make_scene(one_activity(effects=custom("overreach")), plugins=[Effector(overreach=overreach)])
    await scene.tick()
    assert (await scene.current()).relationships == {}
    assert await written_flags(scene) == {}
    assert "between -100 and 100" in scene.host.health.of("fx").recent[-1].message


async def test_an_async_effect_is_awaited(make_scene: MakeScene) -> None:
    async def later(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        await asyncio.sleep(0)
        writer.set_flag("later", True)

    scene = await make_scene(one_activity(effects=custom("later")), plugins=[Effector(later=later)])
    await scene.tick()
    assert await written_flags(scene) == {"plugin:fx:later": True}


async def test_an_unknown_custom_effect_is_skipped_and_the_others_apply(make_scene: MakeScene) -> None:
    effects = {"flagsSet": {"seen": 1}, **custom("missing", pid="nobody")}
    scene = await make_scene(one_activity(effects=effects))
    report = await scene.tick()
    assert report.rows[0].status == "started"
    assert (await scene.current()).flags["seen"] == 1


async def test_a_world_that_disables_the_plugin_gets_none_of_its_effects(make_scene: MakeScene) -> None:
    called: list[str] = []

    def spy(ctx: Any, params: Any, view: Any, writer: EffectWriter) -> None:
        called.append(view.npc.name)
        writer.set_flag("x", 1)

    meta = one_activity(effects=custom("spy"))
    meta["behavior"]["enabledPlugins"] = []
    scene = await make_scene(meta, plugins=[Effector(spy=spy)])
    report = await scene.tick()
    assert report.rows[0].status == "started" and called == [] and await written_flags(scene) == {}

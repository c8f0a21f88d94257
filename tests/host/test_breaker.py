"""Circuit breakers per (plugin, world): open after N failures in the window, half-open after the cooldown,
closed by a success; the admin's reset closes them at once."""

from __future__ import annotations

import asyncio
from typing import Any

from pixsim_hooks import hookimpl
from pixsim_hooks.host import Breakers, BreakerState, WorldScope
from tests.conftest import MakeHost
from tests.host.plugins import Recorder, manifest
from tests.host.test_host import created


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock, transitions: list[tuple[str, int, str]] | None = None) -> Breakers:
    log = transitions if transitions is not None else []
    return Breakers(
        threshold=3,
        window_s=60,
        cooldown_s=30,
        clock=clock,
        on_transition=lambda pid, wid, old, new: log.append((pid, wid, new.value)),
    )


def test_a_breaker_opens_after_threshold_failures_in_the_window_for_that_world_only() -> None:
    clock, log = Clock(), []
    b = breakers(clock, log)
    for _ in range(3):
        b.record_failure("weather", 1)
    assert b.blocked(1) == {"weather"}
    assert b.blocked(2) == frozenset()
    assert log == [("weather", 1, "open")]


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    b = breakers(clock)
    b.record_failure("weather", 1)
    b.record_failure("weather", 1)
    clock.now += 61
    b.record_failure("weather", 1)
    assert b.blocked(1) == frozenset()


def test_an_open_breaker_half_opens_after_the_cooldown_and_a_success_closes_it() -> None:
    clock, log = Clock(), []
    b = breakers(clock, log)
    for _ in range(3):
        b.record_failure("weather", 1)
    clock.now += 29
    assert b.blocked(1) == {"weather"}
    clock.now += 2
    assert b.blocked(1) == frozenset()
    assert b.half_open(1) == {"weather"}
    b.record_success("weather", 1)
    assert not b.any_tripped
    assert log == [("weather", 1, "open"), ("weather", 1, "half_open"), ("weather", 1, "closed")]


def test_a_failure_while_half_open_opens_the_breaker_again() -> None:
    clock = Clock()
    b = breakers(clock)
    for _ in range(3):
        b.record_failure("weather", 1)
    clock.now += 31
    b.blocked(1)
    b.record_failure("weather", 1)
    assert b.blocked(1) == {"weather"}
    assert [v.state for v in b.states()] == [BreakerState.OPEN]


def test_reset_closes_a_plugins_breakers_at_once() -> None:
    clock = Clock()
    b = breakers(clock)
    for world in (1, 2):
        for _ in range(3):
            b.record_failure("weather", world)
    assert b.reset("weather", 1) == 1
    assert b.blocked(1) == frozenset() and b.blocked(2) == {"weather"}
    assert b.reset("weather") == 1
    assert not b.any_tripped


async def test_a_plugin_failing_in_one_world_is_taken_out_of_that_world_only(make_host: MakeHost) -> None:
    class FailsInWorldOne(Recorder):
        manifest = manifest("flaky", "event:subscribe")

        @hookimpl
        def on_session_created(self, ctx: Any, event: Any) -> str:
            if event.world_id == 1:
                raise RuntimeError("world one breaks me")
            return "flaky"

    host = await make_host(FailsInWorldOne(), Recorder(), breaker_threshold=3, breaker_cooldown_s=0.05)
    for _ in range(5):
        await host.hook.on_session_created(event=created(1), world=WorldScope(1))
    calls = host.health.of("flaky").failures["error"]
    assert calls == 3  # the breaker opened at the third failure; later calls skipped the plugin in world 1
    assert await host.hook.on_session_created(event=created(2), world=WorldScope(2)) == ["recorder", "flaky"]
    assert [(v.plugin_id, v.world_id, v.state) for v in host.breakers.states()] == [("flaky", 1, BreakerState.OPEN)]
    await asyncio.sleep(0.06)
    await host.hook.on_session_created(event=created(1), world=WorldScope(1))  # half-open trial fails: open again
    assert host.breakers.states()[0].state is BreakerState.OPEN
    assert host.health.of("flaky").failures["error"] == 4

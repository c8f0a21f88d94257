"""The EffectWriter an effect handler writes through: what it stages, and what it refuses to stage.

What a real tick then applies from a writer is tested in ``tests/backend/behavior/test_effects.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pixsim_hooks import EffectWriter
from tests.plugin.test_capabilities import REFUSED_DELTAS, REFUSED_METRICS, REFUSED_NPC_KEYS


def staged_relationships(writer: EffectWriter) -> dict[str, dict[str, float]]:
    return {key: dict(metrics) for key, metrics in writer.seal().relationships.items()}


def test_deltas_of_100_and_minus_100_are_staged_and_add_up() -> None:
    writer = EffectWriter("fx")
    writer.adjust_relationship("npc:4", "affinity", 100)
    writer.adjust_relationship("npc:4", "tension", -100.0)
    writer.adjust_relationship("npc:4", "trust", 60)
    writer.adjust_relationship("npc:4", "trust", 60)  # each delta is bounded, not their sum
    assert staged_relationships(writer) == {"npc:4": {"affinity": 100.0, "tension": -100.0, "trust": 120.0}}


def _refused_and_nothing_staged(*args: Any, why: str) -> None:
    writer = EffectWriter("fx")
    with pytest.raises(ValueError, match=why):  # the writer's own check, naming the argument
        writer.adjust_relationship(*args)
    assert staged_relationships(writer) == {}


@pytest.mark.parametrize("delta", list(REFUSED_DELTAS.values()), ids=list(REFUSED_DELTAS))
def test_a_delta_out_of_range_or_not_a_number_is_refused(delta: Any) -> None:
    _refused_and_nothing_staged("npc:4", "affinity", delta, why="delta")


@pytest.mark.parametrize("npc_key", REFUSED_NPC_KEYS)
def test_a_key_that_is_not_npc_and_digits_is_refused(npc_key: str) -> None:
    _refused_and_nothing_staged(npc_key, "affinity", 1, why="npc_key")


@pytest.mark.parametrize("metric", REFUSED_METRICS)
def test_an_unknown_metric_is_refused(metric: str) -> None:
    _refused_and_nothing_staged("npc:4", metric, 1, why="metric")

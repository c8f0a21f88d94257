"""Routine graphs: which node is active for an NPC now, and the candidate activities it offers.

The active node: the first node (in the routine's order) whose ``timeRangeSeconds`` contains the time of day (a
range may wrap past midnight); else the node the NPC was last in; else the routine's first node. From a
``decision`` node the NPC follows an outgoing edge whose conditions hold (weighted by ``weight``, drawn from its
seeded stream) when the node's ``decisionConditions`` hold, until it reaches a ``time_slot`` or ``activity`` node;
a dead end (or more than :data:`MAX_HOPS` decisions) leaves it idle.

``transitionEffects`` apply when the NPC enters a node: those of each edge it walked, or of the direct edge from the
node it was last in. Their ``energyDeltaPerHour`` (a rate) has no meaning for a transition and is ignored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.backend.behavior._conditions import CompiledCondition, all_hold, compile_condition
from pixsim_hooks.backend.behavior._config import Routine, RoutineNode
from pixsim_hooks.backend.behavior._effects import CompiledEffect, compile_effects
from pixsim_hooks.backend.behavior._scoring import choose
from pixsim_hooks.backend.behavior._world import DAY_SECONDS
from pixsim_hooks.plugin import NpcView

__all__ = [
    "CompiledEdge",
    "CompiledRoutine",
    "MAX_HOPS",
    "NodeEntry",
    "Route",
]

MAX_HOPS = 8


@dataclass(frozen=True, slots=True)
class NodeEntry:
    """One ``preferredActivities`` entry: the activity, its base weight and its own conditions."""

    activity_id: str
    weight: float
    conditions: tuple[CompiledCondition, ...]


@dataclass(frozen=True, slots=True)
class CompiledEdge:
    to_node_id: str
    weight: float
    conditions: tuple[CompiledCondition, ...]
    effects: tuple[CompiledEffect, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """Where the routine puts the NPC: the node (None: idle) and the transition effects due on the way there."""

    node: RoutineNode | None
    effects: tuple[CompiledEffect, ...] = ()


class CompiledRoutine:
    def __init__(self, routine: Routine) -> None:
        self.routine = routine
        self.nodes = {node.id: node for node in routine.nodes}
        self.entries = {
            node.id: tuple(_entry(node, i) for i in range(len(node.preferred_activities))) for node in routine.nodes
        }
        self.decision_conditions = {
            n.id: tuple(compile_condition(c) for c in n.decision_conditions) for n in routine.nodes
        }
        self.edges: dict[str, list[CompiledEdge]] = {}
        for edge in routine.edges:
            compiled = CompiledEdge(
                edge.to_node_id,
                edge.weight,
                tuple(compile_condition(c) for c in edge.conditions),
                compile_effects(edge.transition_effects),
            )
            self.edges.setdefault(edge.from_node_id, []).append(compiled)

    def timed_node(self, world_time: float, last_node_id: str | None) -> RoutineNode:
        seconds = world_time % DAY_SECONDS
        for node in self.routine.nodes:
            if node.time_range_seconds is not None and node.time_range_seconds.contains(seconds):
                return node
        return self.nodes.get(last_node_id or "", self.routine.nodes[0])

    async def route(
        self, *, world_time: float, last_node_id: str | None, calls: ExtensionCalls, view: NpcView, rng: random.Random
    ) -> Route:
        node = self.timed_node(world_time, last_node_id)
        walked: list[CompiledEffect] = list(self._direct_effects(last_node_id, node.id))
        for _ in range(MAX_HOPS):
            if node.node_type != "decision":
                return Route(node, tuple(walked))
            edge = await self._take_edge(node, calls, view, rng)
            if edge is None:
                return Route(None, tuple(walked))
            walked.extend(edge.effects)
            node = self.nodes[edge.to_node_id]
        return Route(None, tuple(walked))

    def _direct_effects(self, last_node_id: str | None, node_id: str) -> tuple[CompiledEffect, ...]:
        if last_node_id is None or last_node_id == node_id:
            return ()
        edge = next((e for e in self.edges.get(last_node_id, ()) if e.to_node_id == node_id), None)
        return edge.effects if edge is not None else ()

    async def _take_edge(
        self, node: RoutineNode, calls: ExtensionCalls, view: NpcView, rng: random.Random
    ) -> CompiledEdge | None:
        if not await all_hold(calls, self.decision_conditions[node.id], view):
            return None
        open_edges = [(e, e.weight) for e in self.edges.get(node.id, ()) if await all_hold(calls, e.conditions, view)]
        chosen = choose([(e, w) for e, w in open_edges if w > 0], rng)
        return chosen[0] if chosen is not None else None


def _entry(node: RoutineNode, index: int) -> NodeEntry:
    preferred = node.preferred_activities[index]
    conditions = tuple(compile_condition(c) for c in preferred.conditions)
    return NodeEntry(preferred.activity_id, preferred.weight, conditions)

"""The built-in effects (registered as ``effect:core:<name>``), compiling an activity's effects into calls, and the
tick's accumulated change.

An activity's ``effects`` become calls in this order: built-in (mood, relationships, flags), then its
``customEffects`` in the order given. ``energyDeltaPerHour`` is a rate, not a one-shot: it is settled for the
time actually spent whenever the NPC is simulated (``effect:core:energy_delta_per_hour`` with ``hours``).

Built-ins write through a :class:`CoreEffectWriter`, which can also change the NPC's own state and set the world's
(un-namespaced) flags; plugins get a plain :class:`~pixsim_hooks.EffectWriter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pixsim_hooks.backend.behavior._config import Effects, NpcState
from pixsim_hooks.backend.behavior._world import current_world
from pixsim_hooks.plugin import (
    CORE_PLUGIN_ID,
    MAX_RELATIONSHIP_DELTA,
    MAX_WRITES,
    EffectWriter,
    FrozenDict,
    NamespaceViolation,
    NpcView,
    SessionChange,
    SessionSnapshot,
    StagedWrites,
    checked_json,
    checked_relationship,
    freeze,
    thaw,
)

__all__ = [
    "CORE_EFFECTS",
    "CompiledEffect",
    "CoreEffectWriter",
    "ENERGY_EFFECT",
    "TickChange",
    "compile_effects",
]

CompiledEffect = tuple[str, FrozenDict]
"""(effect type, params)."""
ENERGY_EFFECT = "effect:core:energy_delta_per_hour"


def compile_effects(effects: Effects | None) -> tuple[CompiledEffect, ...]:
    """The one-shot calls of ``effects`` in application order (the energy rate is settled separately)."""
    if effects is None:
        return ()
    calls: list[CompiledEffect] = []
    if effects.mood_impact is not None:
        calls.append(("effect:core:mood_impact", freeze(effects.mood_impact.model_dump(by_alias=True))))
    if effects.relationship_changes:
        changes = {ref: d.model_dump(exclude_none=True) for ref, d in effects.relationship_changes.items()}
        calls.append(("effect:core:relationship_changes", freeze({"changes": changes})))
    if effects.flags_set:
        calls.append(("effect:core:flags_set", freeze({"flags": effects.flags_set})))
    calls.extend((custom.type, freeze(custom.params)) for custom in effects.custom_effects)
    return tuple(calls)


class CoreEffectWriter(EffectWriter):
    """The built-ins' writer: besides relationships it stages the NPC's energy and mood and world flags."""

    __slots__ = ("energy", "mood", "world_flags")

    def __init__(self) -> None:
        super().__init__(CORE_PLUGIN_ID)
        self.energy = 0.0
        self.mood = (0.0, 0.0)
        self.world_flags: dict[str, Any] = {}

    def adjust_energy(self, delta: float) -> None:
        self._check_open()
        self.energy += delta

    def adjust_mood(self, valence: float, arousal: float) -> None:
        self._check_open()
        self.mood = (self.mood[0] + valence, self.mood[1] + arousal)

    def set_world_flag(self, key: str, value: Any) -> None:
        self._check_open()
        self.world_flags[key] = checked_json(value)


# -- the built-ins: fn(ctx=None, params, view, writer) -> None --------------------------------------------------------
def energy_delta_per_hour(ctx: None, params: Mapping[str, Any], view: NpcView, writer: CoreEffectWriter) -> None:
    writer.adjust_energy(params["energyDeltaPerHour"] * params["hours"])


def mood_impact(ctx: None, params: Mapping[str, Any], view: NpcView, writer: CoreEffectWriter) -> None:
    writer.adjust_mood(params.get("valence", 0.0), params.get("arousal", 0.0))


def relationship_changes(ctx: None, params: Mapping[str, Any], view: NpcView, writer: CoreEffectWriter) -> None:
    """Keys ``npc:<id>`` (when the NPC exists), ``role:<key>`` (every holder) or ``self``; metrics are added."""
    world = current_world()
    for ref, deltas in params["changes"].items():
        for npc_id in world.npc_ids(ref, view.npc.id):
            for metric, delta in deltas.items():
                writer.adjust_relationship(f"npc:{npc_id}", metric, delta)


def flags_set(ctx: None, params: Mapping[str, Any], view: NpcView, writer: CoreEffectWriter) -> None:
    for key, value in params["flags"].items():
        writer.set_world_flag(key, thaw(value))


CORE_EFFECTS = {
    "energy_delta_per_hour": energy_delta_per_hour,
    "mood_impact": mood_impact,
    "relationship_changes": relationship_changes,
    "flags_set": flags_set,
}


# -- the tick's change ----------------------------------------------------------------------------------------------
class TickChange:
    """Everything a tick will write, as one version-checked :class:`SessionChange`."""

    def __init__(self, session: SessionSnapshot) -> None:
        self._session = session
        self.flags: dict[str, Any] = {}
        self.relationships: dict[str, dict[str, float]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self._own: dict[str, dict[str, Any]] = {}  # plugin id -> its own flags as the tick has them so far

    def read_flag(self, key: str) -> Any:
        """A flag as the tick has it so far: staged this tick, else as the session had it."""
        return self.flags[key] if key in self.flags else self._session.flags.get(key)

    def own_flags(self, plugin_id: str) -> Mapping[str, Any]:
        """One plugin's own flags as the tick has them so far: a read-only view, kept current by :meth:`merge`."""
        own = self._own.get(plugin_id)
        if own is None:
            prefix = f"plugin:{plugin_id}:"
            own = {k: v for k, v in self._session.flags.items() if str.startswith(k, prefix)}
            own.update((k, v) for k, v in self.flags.items() if str.startswith(k, prefix))
            self._own[plugin_id] = own
        return MappingProxyType(own)

    def merge(self, plugin_id: str, staged: StagedWrites) -> None:
        """Add one successful effect's writes, all checked again here (before anything is merged): keys in the
        plugin's own namespace, finite JSON values, relationship keys, metrics and bounded deltas. So not even a
        writer tampered with can place anything outside what its checks allow."""
        own = f"plugin:{plugin_id}:"
        flags: dict[str, Any] = {}
        for key, value in staged.flags.items():
            if type(key) is not str or not str.startswith(key, own) or len(key) == len(own):
                raise NamespaceViolation(plugin_id, "effect", "set_flag", str(key)[:200])
            flags[key] = checked_json(value)
        bound = MAX_RELATIONSHIP_DELTA * MAX_WRITES  # a call's summed deltas: each write is at most the bound
        deltas: dict[str, dict[str, float]] = {}
        for npc_key, metrics in staged.relationships.items():
            for metric, delta in metrics.items():
                key, name, amount = checked_relationship(npc_key, metric, delta, bound)
                deltas.setdefault(key, {})[name] = amount
        self.flags.update(flags)
        own_view = self._own.get(plugin_id)
        if own_view is not None:
            own_view.update(flags)
        self._add_relationships(deltas)

    def merge_core(self, writer: CoreEffectWriter, staged: StagedWrites, state: NpcState) -> None:
        for key, value in writer.world_flags.items():
            self.flags[key] = value
        if writer.world_flags:
            self._own.clear()  # a world's own effect may set any flag: the plugins' views are read again
        self._add_relationships(staged.relationships)
        state.energy = min(100.0, max(0.0, state.energy + writer.energy))
        mood = state.mood_state
        valence = min(100.0, max(-100.0, mood.valence + writer.mood[0]))
        arousal = min(100.0, max(-100.0, mood.arousal + writer.mood[1]))
        state.mood_state = mood.model_copy(update={"valence": valence, "arousal": arousal})

    def _add_relationships(self, deltas: Mapping[str, Mapping[str, float]]) -> None:
        for npc_key, metrics in deltas.items():
            mine = self.relationships.setdefault(npc_key, {})
            for metric, delta in metrics.items():
                mine[metric] = mine.get(metric, 0.0) + delta

    def set_state(self, npc_id: int, state: NpcState) -> None:
        self.states[f"npc:{npc_id}"] = state.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_session_change(self, seconds: float) -> SessionChange:
        flags = dict(self.flags)
        if self.states:
            entries: dict[str, Any] = thaw(self._session.flags.get("npcs", {}))
            for key, state in self.states.items():
                entry = entries.get(key)
                entries[key] = {**(entry if isinstance(entry, dict) else {}), "state": state}
            flags["npcs"] = entries
        return SessionChange(
            set_flags=flags,
            relationship_deltas=self.relationships,
            world_time_delta=seconds,
            expected_version=self._session.version,
        )

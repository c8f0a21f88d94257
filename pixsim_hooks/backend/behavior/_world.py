"""The world as one tick sees it: config, NPCs, roles, locations, the clock and each NPC's random stream.

The core built-in conditions and effects are registered once per host and called like plugins' (``fn(None,
params, view, ...)``), yet some need more than the view: role lookups, locations, the seeded random stream of the NPC
the view is of (``rng_of(view.npc.id)``, explicit per NPC, so NPCs decided concurrently never share one). The tick
publishes its :class:`TickWorld` in a context variable for them (the one per-tick value that is not passed along):
asyncio gives each request its own context, so concurrent ticks never see each other's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from pixsim_hooks.backend.behavior._config import BehaviorConfig
from pixsim_hooks.host import WorldScope
from pixsim_hooks.plugin import LocationSnapshot, NpcSnapshot, SessionSnapshot, WorldSnapshot

__all__ = [
    "DAY_SECONDS",
    "TickWorld",
    "current_world",
    "time_of_day",
    "using_world",
]

DAY_SECONDS = 86_400
# Hour boundaries of the four parts of the day: morning 06-12, afternoon 12-18, evening 18-22, night 22-06.
_PARTS = ((6, "night"), (12, "morning"), (18, "afternoon"), (22, "evening"), (24, "night"))


def time_of_day(world_time: float) -> str:
    hour = (world_time % DAY_SECONDS) / 3600
    return next(name for end, name in _PARTS if hour < end)


@dataclass(slots=True)
class TickWorld:
    """Everything one tick reads, resolved once; ``rngs`` holds each NPC's seeded random stream."""

    world: WorldSnapshot
    config: BehaviorConfig
    session: SessionSnapshot
    npcs: Mapping[int, NpcSnapshot]
    locations: Mapping[int, LocationSnapshot]
    roles: Mapping[str, tuple[int, ...]]
    scope: WorldScope
    now: float
    rngs: dict[int, random.Random] = field(default_factory=dict)
    time_of_day: str = field(init=False)
    category_defaults: Mapping[str, float | None] = field(init=False)

    def __post_init__(self) -> None:
        # Read for every candidate of every NPC: worked out once.
        self.time_of_day = time_of_day(self.now)
        self.category_defaults = {c.id: c.default_weight for c in self.config.activity_categories}

    def rng_of(self, npc_id: int) -> random.Random:
        """The seeded random stream of one NPC of this tick. There is no unseeded fallback: a draw for an NPC the
        tick did not seed would make the tick unrepeatable, so it is a programming error."""
        try:
            return self.rngs[npc_id]
        except KeyError:
            raise RuntimeError(f"NPC {npc_id} has no random stream in this tick") from None

    def npc_ids(self, ref: str, actor: int) -> tuple[int, ...]:
        """The NPCs a reference names: ``npc:<id>`` (when it exists), ``role:<key>`` (every holder), ``self``."""
        kind, _, rest = ref.partition(":")
        if kind == "self":
            return (actor,)
        if kind == "npc":
            return (int(rest),) if rest.isdigit() and int(rest) in self.npcs else ()
        if kind == "role":
            return self.roles.get(rest, ())
        return ()

    def has_role(self, npc_id: int, ref: str) -> bool:
        return npc_id in self.roles.get(ref.removeprefix("role:"), ()) if ref.startswith("role:") else False

    def location_type(self, location_id: int | None) -> str | None:
        location = self.locations.get(location_id) if location_id is not None else None
        kind = location.meta.get("locationType") if location is not None else None
        return kind if isinstance(kind, str) else None

    def player_location(self) -> int | None:
        value = self.session.flags.get("location_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def nearby(self, a: int | None, b: int | None) -> bool:
        """Same location, or one lists the other in ``meta.nearbyLocationIds``."""
        if a is None or b is None:
            return False
        return a == b or b in self._neighbours(a) or a in self._neighbours(b)

    def _neighbours(self, location_id: int) -> tuple[object, ...]:
        location = self.locations.get(location_id)
        listed = location.meta.get("nearbyLocationIds") if location is not None else None
        return listed if isinstance(listed, tuple) else ()


def roles_of(npcs: Mapping[int, tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
    """role → ids of the NPCs holding it, ascending."""
    holders: dict[str, list[int]] = {}
    for npc_id in sorted(npcs):
        for role in npcs[npc_id]:
            holders.setdefault(role, []).append(npc_id)
    return {role: tuple(ids) for role, ids in holders.items()}


_CURRENT: ContextVar[TickWorld] = ContextVar("pixsim_behavior_tick_world")


def current_world() -> TickWorld:
    """The tick in progress (for the core built-ins). Outside a tick this is a programming error."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError("core behavior built-ins run only inside a behavior tick") from None


@contextmanager
def using_world(world: TickWorld) -> Iterator[TickWorld]:
    token = _CURRENT.set(world)
    try:
        yield world
    finally:
        _CURRENT.reset(token)

"""``tick()``: advance a session's clock and let its NPCs act, written as ONE version-checked session change.

The tick reads the session, its world, NPCs and locations, validates every piece of behavior JSON it will use (bad
JSON → :class:`~pixsim_hooks.ConfigError` before anything runs), computes every NPC's state and every effect, then
writes all of it with ``expected_version`` set to the version it read. When another writer got there first the
store refuses (StaleWriteError) and the tick starts over from a fresh read, a bounded number of times: NPCs never
act on stale data and nobody's write is lost.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable

from pixsim_hooks.backend.behavior._activities import compile_activities
from pixsim_hooks.backend.behavior._calls import ExtensionCalls
from pixsim_hooks.backend.behavior._config import NpcBehavior
from pixsim_hooks.backend.behavior._core import ensure_core_behavior
from pixsim_hooks.backend.behavior._decide import NpcRun, TickRun
from pixsim_hooks.backend.behavior._loading import load_behavior, parse_npc_behavior, parse_session_npc
from pixsim_hooks.backend.behavior._preferences import merge_preferences, preferences_json
from pixsim_hooks.backend.behavior._report import TickReport
from pixsim_hooks.backend.behavior._routine import CompiledRoutine
from pixsim_hooks.backend.behavior._tiers import simulation_plan
from pixsim_hooks.backend.behavior._world import TickWorld, roles_of
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import NotFoundError, NpcSnapshot, SessionChange, SessionSnapshot, StaleWriteError, Storage

__all__ = ["ApplyChange", "MAX_ATTEMPTS", "tick"]

MAX_ATTEMPTS = 5
ApplyChange = Callable[[int, SessionChange], Awaitable[SessionSnapshot]]


async def tick(
    host: PluginHost,
    storage: Storage,
    session_id: int,
    seconds: float,
    *,
    seed: int,
    apply_change: ApplyChange | None = None,
) -> TickReport:
    """Advance session ``session_id`` by ``seconds`` of world time and simulate its world's NPCs.

    ``seed`` makes the tick repeatable: the same seed on the same data gives the same decisions. ``apply_change``
    writes the change (default: ``storage.sessions.apply_change``; the HTTP API passes its service's, which
    publishes the session events). Raises NotFoundError (no such session or world), ConfigError (bad behavior
    JSON; nothing written), ValueError (bad ``seconds``) and StaleWriteError (lost to concurrent writers
    :data:`MAX_ATTEMPTS` times; nothing written).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("seconds must be a finite number greater than 0")
    ensure_core_behavior(host)
    write = apply_change or storage.sessions.apply_change
    for attempt in range(1, MAX_ATTEMPTS + 1):
        session = await storage.sessions.get_session(session_id)
        if session is None:
            raise NotFoundError(f"session {session_id} not found")
        run = await _prepare(host, storage, session, float(seconds), seed)
        rows, change = await run.execute()
        try:
            after = await write(session_id, change.to_session_change(float(seconds)))
        except StaleWriteError:
            if attempt == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))  # let the other writer finish
            continue
        return TickReport(
            session_id,
            session.world_id,
            seed,
            session.world_time,
            after.world_time,
            after.version,
            attempt,
            tuple(rows),
        )
    raise AssertionError("unreachable")  # the loop returns or raises


async def _prepare(host: PluginHost, storage: Storage, session: SessionSnapshot, seconds: float, seed: int) -> TickRun:
    world = await storage.worlds.get_world(session.world_id)
    if world is None:
        raise NotFoundError(f"world {session.world_id} of session {session.id} not found")
    config = load_behavior(world.meta)
    npcs = sorted(await storage.npcs.list_npcs(world.id), key=lambda n: n.id)
    behaviors = {npc.id: parse_npc_behavior(npc, config) for npc in npcs}
    locations = await storage.worlds.list_locations(world.id)
    scope = host.world_scope(world.id, world.meta)
    tick_world = TickWorld(
        world=world,
        config=config,
        session=session,
        npcs={npc.id: npc for npc in npcs},
        locations={location.id: location for location in locations},
        roles=roles_of({npc_id: b.roles for npc_id, b in behaviors.items()}),
        scope=scope,
        now=session.world_time + seconds,
    )
    calls = ExtensionCalls(host, scope)
    plan = await simulation_plan(host, calls, world.id, config.simulation_config)
    routines = {routine.id: CompiledRoutine(routine) for routine in config.routines}
    runs = [_npc_run(npc, behaviors[npc.id], routines, session, seed) for npc in npcs]
    return TickRun(host, tick_world, calls, plan, compile_activities(config), runs)


def _npc_run(
    npc: NpcSnapshot,
    behavior: NpcBehavior,
    routines: dict[str, CompiledRoutine],
    session: SessionSnapshot,
    seed: int,
) -> NpcRun:
    state, override = parse_session_npc(session, npc.id)
    routine = routines.get(behavior.routine_id) if behavior.routine_id is not None else None
    defaults = routine.routine.default_preferences if routine is not None else None
    preferences = merge_preferences(defaults, behavior.preferences, override)
    # A string seed is hashed with SHA-512: stable across processes and platforms, unlike hash().
    rng = random.Random(f"{seed}:{session.world_time!r}:{npc.id}")
    return NpcRun(npc, state, preferences, preferences_json(preferences), routine, rng)

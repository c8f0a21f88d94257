"""Gossip: who the player has been talking to. A ``community`` plugin: the host runs it only out of process, and by
default it is installed that way (the ``pixsim_hooks.isolated_plugins`` entry-point group), so it runs in a
sandboxed child and the host never imports it.

On every interaction it counts one more for that NPC in its own session flag ``heard`` (stored as
``flags["plugin:gossip:heard"]``: ``{"npc:<id>": count}``). Interactions of one session can race; the count is a
compare-and-set (``set_flags(..., expected_version=)``) retried a few times, so none is lost. Its write changes
flags only, and it does not listen to session updates: no feedback loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsim_hooks import InteractionExecuted, PluginContext, PluginManifest, StaleWriteError, hookimpl

__all__ = ["HEARD_FLAG", "MAX_ATTEMPTS", "manifest", "on_interaction_executed"]

manifest = PluginManifest(
    id="gossip",
    name="Gossip",
    version="1.0.0",
    description="Counts the player's interactions with each NPC in the session's own flags.",
    author="PixSim",
    kind="event",
    trust="community",
    isolation="process",
    permissions=("event:subscribe", "session:read", "session:write"),
)

HEARD_FLAG = "heard"
MAX_ATTEMPTS = 5


@hookimpl
async def on_interaction_executed(ctx: PluginContext, event: InteractionExecuted) -> None:
    for _ in range(MAX_ATTEMPTS):
        session = await ctx.session.get_session(event.session_id)
        if session is None:
            return
        current: Any = session.flags.get(f"plugin:gossip:{HEARD_FLAG}")
        heard = dict(current) if isinstance(current, Mapping) else {}
        key = f"npc:{event.npc_id}"
        heard[key] = int(heard.get(key, 0)) + 1
        try:
            await ctx.session.set_flags(event.session_id, {HEARD_FLAG: heard}, expected_version=session.version)
        except StaleWriteError:  # another interaction got there first: read again and count on top of it
            continue
        return
    raise StaleWriteError(f"gossip lost {MAX_ATTEMPTS} races for session {event.session_id}")

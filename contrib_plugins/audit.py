"""Audit: keeps a short trail of what happened in each session, in the session itself.

On every session created, session updated (see below) and interaction executed event it logs one line and
appends ``{"event", "at_world_time"}`` (plus ``changed`` / ``npc_id`` / ``interaction`` where they apply) to its
own session flag ``audit_trail`` (stored as ``flags["plugin:audit:audit_trail"]``), keeping the last
:data:`TRAIL_LIMIT` entries.

Why there is no feedback loop: the plugin's only write is ``ctx.session.set_flag``, which changes flags and
nothing else, so the ``SessionUpdated`` it causes has ``changed == ("flags",)``. Such an event does not say
*whose* flags changed, so the plugin skips every update that changed flags only (:func:`is_audited_update`). An
update it records always changed relationships or world time, which its own write never does; so no write of
its own can lead to another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pixsim_hooks import (
    InteractionExecuted,
    PluginContext,
    PluginManifest,
    SessionCreated,
    SessionUpdated,
    hookimpl,
    thaw,
)

__all__ = [
    "TRAIL_FLAG",
    "TRAIL_LIMIT",
    "is_audited_update",
    "manifest",
    "on_interaction_executed",
    "on_session_created",
    "on_session_updated",
]

manifest = PluginManifest(
    id="audit",
    name="Session audit trail",
    version="1.0.0",
    description="Logs session events and keeps the last 20 of them in the session's own flags.",
    author="PixSim",
    kind="event",
    trust="first_party",
    # session:read: appending needs the current trail (the event's snapshot may be stale by now) and an
    # interaction event carries no session snapshot to take the world time from.
    permissions=("event:subscribe", "session:read", "session:write", "log:emit"),
)

TRAIL_FLAG = "audit_trail"
TRAIL_LIMIT = 20
_SELF_WRITTEN = frozenset({"flags"})


def is_audited_update(event: SessionUpdated) -> bool:
    """True when the update changed something besides flags — never the case for this plugin's own write."""
    return bool(set(event.changed) - _SELF_WRITTEN)


@hookimpl
async def on_session_created(ctx: PluginContext, event: SessionCreated) -> None:
    entry = {"event": "session_created", "at_world_time": event.session.world_time}
    await _record(ctx, event.session.id, entry)


@hookimpl
async def on_session_updated(ctx: PluginContext, event: SessionUpdated) -> None:
    if not is_audited_update(event):
        return
    entry = {
        "event": "session_updated",
        "at_world_time": event.session.world_time,
        "changed": sorted(event.changed),
    }
    await _record(ctx, event.session.id, entry)


@hookimpl
async def on_interaction_executed(ctx: PluginContext, event: InteractionExecuted) -> None:
    entry = {"event": "interaction_executed", "npc_id": event.npc_id, "interaction": event.interaction}
    await _record(ctx, event.session_id, entry)


async def _record(ctx: PluginContext, session_id: int, entry: dict[str, Any]) -> None:
    """Append ``entry`` to the session's trail, re-read just before writing so earlier appends are kept."""
    session = await ctx.session.get_session(session_id)
    if session is None:  # deleted since the event was published: nothing left to audit
        return
    entry.setdefault("at_world_time", session.world_time)
    trail = _appended(session.flags.get(f"plugin:{ctx.plugin_id}:{TRAIL_FLAG}"), entry)
    ctx.log.info("session event audited", session_id=session_id, audit_event=entry["event"])
    await ctx.session.set_flag(session_id, TRAIL_FLAG, trail)


def _appended(current: object, entry: Mapping[str, Any]) -> list[Any]:
    # Anything but a list (absent, or hand-edited into something else) starts a fresh trail.
    entries: Sequence[Any] = current if isinstance(current, Sequence) and not isinstance(current, str) else ()
    return [*thaw(entries), dict(entry)][-TRAIL_LIMIT:]

"""The reference conformance plugin: what ``docs/plugin-protocol.md`` ("The conformance profile") asks of a plugin
checked by ``tests/protocol``. Written as any plugin author would write it; ``test_conformance.py`` runs it out of
process (a sandboxed child; the fd-3 command form) and behind ``serve_plugin`` (the HTTP form).

- ``register_behavior`` registers condition ``is_tired`` and effect ``mark_seen``;
- ``is_tired(params, view)``: the NPC's ``state["energy"]`` is below ``params["below"]`` (default 30);
- ``mark_seen(params, view, writer)``: flag ``seen`` += 1 (read with ``get_flag``), affinity with the NPC + 1;
- ``on_session_updated(event)``: reads the session, then the world, and answers what it was allowed to see.
"""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PermissionDenied, PluginManifest, hookimpl

manifest = PluginManifest(
    id="sample",
    name="Conformance sample",
    version="1.0.0",
    description="The reference plugin of the protocol conformance suite.",
    trust="community",
    isolation="process",
    permissions=("behavior:extend_conditions", "behavior:extend_effects", "event:subscribe", "session:read"),
)


def is_tired(ctx: Any, params: Any, view: Any) -> bool:
    return bool(view.state.get("energy", 100) < params.get("below", 30))


def mark_seen(ctx: Any, params: Any, view: Any, writer: Any) -> None:
    writer.set_flag("seen", writer.get_flag("seen", 0) + 1)
    writer.adjust_relationship(view.npc_key, "affinity", 1)


@hookimpl
def register_behavior(ctx: Any) -> None:
    ctx.behavior.register_condition_evaluator("is_tired", is_tired)
    ctx.behavior.register_effect_handler("mark_seen", mark_seen)


@hookimpl
async def on_session_updated(ctx: Any, event: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    try:
        session = await ctx.session.get_session(event.session.id)
        seen["session"] = None if session is None else session.version
    except PermissionDenied:
        seen["session"] = "denied"
    try:
        world = await ctx.world.get_world(event.world_id)
        seen["world"] = None if world is None else world.name
    except PermissionDenied:
        seen["world"] = "denied"
    return seen

"""The audit plugin: session events become a bounded trail in its own session flag, without ever feeding back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from contrib_plugins import audit
from pixsim_hooks import InteractionExecuted, SessionCreated, SessionSnapshot, SessionUpdated, WorldSnapshot, thaw
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.host import PluginHost, PluginState
from pixsim_hooks.plugin import SessionChange
from tests.contrib_plugins.conftest import LoadHost, MakeWorld, created

TRAIL = "plugin:audit:audit_trail"


@pytest.fixture
def plugins() -> Sequence[object]:
    return [audit]


@pytest.fixture
async def host(load_host: LoadHost) -> PluginHost:
    return await load_host(audit)


@pytest.fixture
async def world(make_world: MakeWorld) -> WorldSnapshot:
    return await make_world(enabled=["audit"])


@pytest.fixture
async def session(storage: SqlStorage, world: WorldSnapshot) -> SessionSnapshot:
    return await storage.sessions.create_session(world.id)


async def trail_of(storage: SqlStorage, session_id: int) -> Any:
    """The stored trail as plain JSON (snapshots hand out read-only tuples and mappings)."""
    stored = await storage.sessions.get_session(session_id)
    assert stored is not None
    return thaw(stored.flags.get(TRAIL))


async def dispatch(host: PluginHost, world: WorldSnapshot, hook: str, event: object) -> None:
    await getattr(host.hook, hook)(event=event, world=host.world_scope(world.id, world.meta))


async def test_the_plugin_loads_with_least_permissions(host: PluginHost) -> None:
    info = host.plugin("audit")
    assert info.state is PluginState.ENABLED
    assert info.permissions == ("event:subscribe", "log:emit", "session:read", "session:write")
    assert info.ignored_hooks == ()


async def test_a_created_session_starts_its_trail(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    await dispatch(host, world, "on_session_created", SessionCreated(world.id, session))
    assert await trail_of(storage, session.id) == [{"event": "session_created", "at_world_time": 0.0}]


async def test_an_interaction_is_recorded_at_the_sessions_current_world_time(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    await storage.sessions.apply_change(session.id, SessionChange(world_time_delta=90.0))
    await dispatch(host, world, "on_interaction_executed", InteractionExecuted(world.id, session.id, 7, "talk"))
    assert await trail_of(storage, session.id) == [
        {"event": "interaction_executed", "npc_id": 7, "interaction": "talk", "at_world_time": 90.0}
    ]


async def test_a_relationship_or_clock_update_is_recorded_with_what_changed(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    moved = await storage.sessions.apply_change(session.id, SessionChange(world_time_delta=60.0))
    await dispatch(host, world, "on_session_updated", SessionUpdated(world.id, moved, ("world_time", "flags")))
    assert await trail_of(storage, session.id) == [
        {"event": "session_updated", "at_world_time": 60.0, "changed": ["flags", "world_time"]}
    ]


async def test_entries_are_appended_in_order_and_earlier_ones_are_kept(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    await dispatch(host, world, "on_session_created", SessionCreated(world.id, session))
    await dispatch(host, world, "on_interaction_executed", InteractionExecuted(world.id, session.id, 1, "greet"))
    # The event's snapshot predates both writes: the plugin must re-read the trail rather than trust it.
    await dispatch(host, world, "on_session_updated", SessionUpdated(world.id, session, ("relationships",)))
    trail = await trail_of(storage, session.id)
    assert [entry["event"] for entry in trail] == ["session_created", "interaction_executed", "session_updated"]


async def test_the_trail_keeps_only_the_last_twenty_entries(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    for npc_id in range(1, 26):
        await dispatch(
            host, world, "on_interaction_executed", InteractionExecuted(world.id, session.id, npc_id, "talk")
        )
    trail = await trail_of(storage, session.id)
    assert len(trail) == audit.TRAIL_LIMIT == 20
    assert [entry["npc_id"] for entry in trail] == list(range(6, 26))


async def test_a_flags_only_update_is_not_audited(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    flagged = await storage.sessions.apply_change(session.id, SessionChange(set_flags={"met_alex": True}))
    await dispatch(host, world, "on_session_updated", SessionUpdated(world.id, flagged, ("flags",)))
    await dispatch(host, world, "on_session_updated", SessionUpdated(world.id, flagged, ()))
    assert await trail_of(storage, session.id) is None


async def test_its_own_write_never_leads_to_another_even_if_plugin_writes_published_events(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    # Plugin writes bypass the game service today, so they publish nothing. Feed each write back as the
    # SessionUpdated it would publish if they did: the chain must stop after the first write.
    event = SessionUpdated(world.id, session, ("relationships",))
    writes = 0
    for _ in range(10):
        await dispatch(host, world, "on_session_updated", event)
        after = await storage.sessions.get_session(session.id)
        assert after is not None
        if after.version == event.session.version:
            break
        writes += 1
        event = SessionUpdated(world.id, after, ("flags",))  # exactly what the service computes for set_flag
    assert writes == 1
    assert len(await trail_of(storage, session.id)) == 1


async def test_a_world_that_has_not_enabled_audit_gets_no_trail(
    host: PluginHost, storage: SqlStorage, make_world: MakeWorld
) -> None:
    other = await make_world(enabled=["stealth"], name="Elsewhere")
    session = await storage.sessions.create_session(other.id)
    await dispatch(host, other, "on_session_created", SessionCreated(other.id, session))
    assert await trail_of(storage, session.id) is None


async def test_each_audited_event_is_logged_under_the_plugins_id(
    host: PluginHost, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    with capture_logs() as logs:
        await dispatch(host, world, "on_session_created", SessionCreated(world.id, session))
    entry = next(log for log in logs if log["event"] == "session event audited")
    assert entry["plugin_id"] == "audit"
    assert (entry["session_id"], entry["audit_event"]) == (session.id, "session_created")


async def test_a_trail_edited_into_something_else_is_started_afresh(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    await storage.sessions.apply_change(session.id, SessionChange(set_flags={TRAIL: "garbage"}))
    await dispatch(host, world, "on_session_created", SessionCreated(world.id, session))
    assert await trail_of(storage, session.id) == [{"event": "session_created", "at_world_time": 0.0}]


async def test_an_event_for_a_session_deleted_meanwhile_is_skipped_without_failure(
    host: PluginHost, storage: SqlStorage, world: WorldSnapshot, session: SessionSnapshot
) -> None:
    await storage.sessions.delete_session(session.id)
    await dispatch(host, world, "on_interaction_executed", InteractionExecuted(world.id, session.id, 1, "talk"))
    assert sum(host.health.of("audit").failures.values()) == 0


async def test_through_the_backend_requests_leave_a_trail(client: httpx.AsyncClient) -> None:
    world = await created(client, "/worlds", {"name": "Harbor", "meta": {"behavior": {"enabledPlugins": ["audit"]}}})
    npc = await created(client, f"/worlds/{world['id']}/npcs", {"name": "Alex"})
    session = await created(client, "/sessions", {"world_id": world["id"]})
    url = f"/sessions/{session['id']}"
    await created(client, f"{url}/interactions", {"npc_id": npc["id"], "interaction": "talk"})
    await created(client, f"{url}/advance-time", {"seconds": 30})
    stored = (await client.get(url)).json()
    assert [entry["event"] for entry in stored["flags"][TRAIL]] == [
        "session_created",
        "interaction_executed",
        "session_updated",
    ]
    assert stored["flags"][TRAIL][-1] == {"event": "session_updated", "at_world_time": 30.0, "changed": ["world_time"]}

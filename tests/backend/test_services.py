from __future__ import annotations

import pytest
import structlog.testing
from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks import (
    InteractionExecuted,
    LocationChanged,
    NotFoundError,
    NpcSpawned,
    SessionCreated,
    SessionUpdated,
    StaleWriteError,
    WorldSnapshot,
    WorldTimeAdvanced,
)
from pixsim_hooks.backend import GameService, SqlStorage, create_sessionmaker, drop_events
from pixsim_hooks.plugin import GenerationRequest, SessionChange
from tests.backend.conftest import Recorder


@pytest.fixture
def service(storage: SqlStorage, recorder: Recorder) -> GameService:
    return GameService(storage, recorder)


@pytest.fixture
async def world(service: GameService) -> WorldSnapshot:
    return await service.create_world("Harbor")


async def test_creating_a_session_publishes_session_created_once(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id, flags={"start": True})

    assert recorder.events == [SessionCreated(world_id=world.id, session=session)]


async def test_creating_an_npc_publishes_npc_spawned_with_its_world(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    npc = await service.create_npc(world.id, "Alex")

    assert recorder.events == [NpcSpawned(world_id=world.id, npc=npc)]


async def test_a_flag_change_publishes_session_updated_naming_flags(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id)
    recorder.events.clear()

    after = await service.set_flags(session.id, {"a": 1, "gone": None})

    assert recorder.events == [SessionUpdated(world_id=world.id, session=after, changed=("flags",))]


async def test_advancing_time_publishes_session_updated_then_world_time_advanced(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id)
    recorder.events.clear()

    after = await service.advance_time(session.id, 90)

    assert recorder.events == [
        SessionUpdated(world_id=world.id, session=after, changed=("world_time",)),
        WorldTimeAdvanced(world_id=world.id, session_id=session.id, previous=0.0, current=90.0),
    ]


async def test_an_interaction_applies_its_deltas_then_publishes_interaction_executed(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    npc = await service.create_npc(world.id, "Alex")
    session = await service.create_session(world.id)
    recorder.events.clear()

    after = await service.execute_interaction(
        session.id, npc.id, "talk", payload={"line": "hi"}, relationship_deltas={"affinity": 2}
    )

    assert after.relationships == {f"npc:{npc.id}": {"affinity": 2}}
    assert recorder.events == [
        SessionUpdated(world_id=world.id, session=after, changed=("relationships",)),
        InteractionExecuted(world.id, session.id, npc.id, "talk", {"line": "hi"}),
    ]


async def test_moving_the_player_stores_the_location_and_names_the_previous_one(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    market = await service.create_location(world.id, "Market")
    dock = await service.create_location(world.id, "Dock")
    session = await service.create_session(world.id)
    await service.move_player(session.id, market.id)
    recorder.events.clear()

    after = await service.move_player(session.id, dock.id)

    assert after.flags["location_id"] == dock.id
    assert recorder.of(LocationChanged) == [
        LocationChanged(world.id, session.id, dock.id, previous_location_id=market.id)
    ]
    assert [type(e) for e in recorder.events] == [SessionUpdated, LocationChanged]


async def test_nothing_is_published_when_the_write_fails(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id)
    recorder.events.clear()

    with pytest.raises(StaleWriteError):
        await service.set_flags(session.id, {"a": 1}, expected_version=99)
    with pytest.raises(NotFoundError):
        await service.advance_time(404, 1)

    assert recorder.events == []


async def test_an_empty_change_publishes_nothing(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id)
    recorder.events.clear()

    await service.apply_change(session.id, SessionChange())

    assert recorder.events == []


async def test_a_failing_publish_is_logged_and_the_write_still_stands(storage: SqlStorage) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("subscriber down")

    service = GameService(storage, broken)
    world = await service.create_world("Harbor")

    with structlog.testing.capture_logs() as logs:
        session = await service.create_session(world.id)
        after = await service.set_flags(session.id, {"a": 1})

    assert await service.get_session(session.id) == after
    failures = [entry["event_type"] for entry in logs if entry["event"] == "event publish failed"]
    assert failures == ["SessionCreated", "SessionUpdated"]


async def test_relationships_and_interactions_need_an_npc_of_the_sessions_world(
    service: GameService, world: WorldSnapshot
) -> None:
    other = await service.create_world("Other")
    stranger = await service.create_npc(other.id, "Stranger")
    session = await service.create_session(world.id)

    with pytest.raises(NotFoundError, match=f"NPC {stranger.id} in world {world.id}"):
        await service.change_relationship(session.id, f"npc:{stranger.id}", {"affinity": 1})
    with pytest.raises(NotFoundError):
        await service.execute_interaction(session.id, stranger.id, "talk")
    with pytest.raises(NotFoundError, match="names no NPC"):
        await service.change_relationship(session.id, "role:friend", {"affinity": 1})


async def test_a_service_built_from_a_sessionmaker_uses_the_same_database(
    engine: AsyncEngine, storage: SqlStorage
) -> None:
    service = GameService(create_sessionmaker(engine))

    world = await service.create_world("Harbor")

    assert await storage.worlds.get_world(world.id) == world


async def test_generations_go_through_the_store_submit(service: GameService, world: WorldSnapshot) -> None:
    submitted = await service.submit_generation(GenerationRequest("a dock at dusk", "api", world_id=world.id))

    assert await service.get_generation(submitted.id) == submitted
    assert submitted.status == "pending"


async def test_the_default_publish_drops_events_quietly() -> None:
    await drop_events(object())
    assert "dropped until a plugin host is attached" in (drop_events.__doc__ or "")


async def test_every_published_event_carries_its_own_id_and_the_version_its_write_produced(
    service: GameService, recorder: Recorder, world: WorldSnapshot
) -> None:
    session = await service.create_session(world.id)
    npc = await service.create_npc(world.id, "Alex")
    await service.advance_time(session.id, 5.0)  # one write: SessionUpdated and WorldTimeAdvanced
    await service.execute_interaction(session.id, npc.id, "talk")  # no change: the version stays 2

    kinds = [(type(e).__name__, e.session_version) for e in recorder.events]  # type: ignore[attr-defined]
    assert kinds == [
        ("SessionCreated", 1),
        ("NpcSpawned", None),
        ("SessionUpdated", 2),
        ("WorldTimeAdvanced", 2),
        ("InteractionExecuted", 2),
    ]
    ids = [e.event_id for e in recorder.events]  # type: ignore[attr-defined]
    assert all(ids) and len(set(ids)) == len(ids)

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pixsim_hooks import NotFoundError, WorldSnapshot, thaw
from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.plugin import GenerationRequest, Storage


def test_sql_storage_satisfies_the_storage_protocol(storage: SqlStorage) -> None:
    typed: Storage = storage  # the real check is mypy's; this one names the members at run time
    members = [
        typed.worlds.get_world,
        typed.worlds.list_locations,
        typed.worlds.get_location,
        typed.npcs.get_npc,
        typed.npcs.list_npcs,
        typed.sessions.get_session,
        typed.sessions.apply_change,
        typed.generations.submit,
        typed.generations.get,
    ]
    assert all(callable(member) for member in members)


async def test_a_created_world_reads_back_as_a_frozen_snapshot(storage: SqlStorage) -> None:
    created = await storage.worlds.create_world("Harbor", {"behavior": {"enabledPlugins": ["weather"]}})

    read = await storage.worlds.get_world(created.id)

    assert isinstance(read, WorldSnapshot)
    assert read == created
    assert read.meta["behavior"]["enabledPlugins"] == ("weather",)
    with pytest.raises(TypeError):
        read.meta["behavior"]["x"] = 1


async def test_snapshots_refuse_even_dicts_own_methods_and_a_thawed_copy_changes_nothing_stored(
    storage: SqlStorage,
) -> None:
    world = await storage.worlds.create_world("Harbor", {"tags": {"a": 1}})

    with pytest.raises(TypeError):
        dict.__setitem__(world.meta["tags"], "a", 999)  # not a dict subclass: dict's own method cannot apply
    mine = thaw(world.meta)
    mine["tags"]["a"] = 999
    again = await storage.worlds.get_world(world.id)

    assert world.meta["tags"]["a"] == 1
    assert again is not None and again.meta["tags"]["a"] == 1


async def test_reading_a_missing_row_gives_none(storage: SqlStorage) -> None:
    assert await storage.worlds.get_world(404) is None
    assert await storage.worlds.get_location(404) is None
    assert await storage.npcs.get_npc(404) is None
    assert await storage.sessions.get_session(404) is None
    assert await storage.generations.get(404) is None


async def test_locations_and_npcs_are_listed_per_world_in_id_order(storage: SqlStorage) -> None:
    harbor = await storage.worlds.create_world("Harbor")
    other = await storage.worlds.create_world("Other")
    market = await storage.worlds.create_location(harbor.id, "Market")
    dock = await storage.worlds.create_location(harbor.id, "Dock")
    await storage.worlds.create_location(other.id, "Elsewhere")
    alex = await storage.npcs.create_npc(harbor.id, "Alex", {"behavior": {"routineId": "routine:shop"}})

    assert await storage.worlds.list_locations(harbor.id) == (market, dock)
    assert await storage.npcs.list_npcs(harbor.id) == (alex,)
    assert await storage.npcs.list_npcs(other.id) == ()


async def test_children_of_a_missing_world_are_refused_as_not_found(storage: SqlStorage) -> None:
    with pytest.raises(NotFoundError, match="world 404"):
        await storage.worlds.create_location(404, "Nowhere")
    with pytest.raises(NotFoundError, match="world 404"):
        await storage.npcs.create_npc(404, "Ghost")
    with pytest.raises(NotFoundError, match="world 404"):
        await storage.sessions.create_session(404)


async def test_updating_replaces_only_the_given_columns(storage: SqlStorage) -> None:
    world = await storage.worlds.create_world("Harbor", {"v": 1})

    renamed = await storage.worlds.update_world(world.id, name="Port")
    remeta = await storage.worlds.update_world(world.id, meta={"v": 2})

    assert (renamed.name, renamed.meta) == ("Port", {"v": 1})
    assert (remeta.name, remeta.meta) == ("Port", {"v": 2})


async def test_updating_or_deleting_a_missing_row_raises_not_found(storage: SqlStorage) -> None:
    with pytest.raises(NotFoundError):
        await storage.worlds.update_world(404, name="x")
    with pytest.raises(NotFoundError):
        await storage.npcs.update_npc(404)
    with pytest.raises(NotFoundError):
        await storage.worlds.delete_world(404)


async def test_deleting_a_world_removes_its_children_and_unlinks_its_generations(storage: SqlStorage) -> None:
    world = await storage.worlds.create_world("Harbor")
    npc = await storage.npcs.create_npc(world.id, "Alex")
    session = await storage.sessions.create_session(world.id)
    generation = await storage.generations.submit(GenerationRequest("a portrait", "api", world_id=world.id))

    await storage.worlds.delete_world(world.id)

    assert await storage.npcs.get_npc(npc.id) is None
    assert await storage.sessions.get_session(session.id) is None
    kept = await storage.generations.get(generation.id)
    assert kept is not None and kept.world_id is None


async def test_submitting_a_generation_records_it_pending_with_a_utc_timestamp(storage: SqlStorage) -> None:
    world = await storage.worlds.create_world("Harbor")
    before = datetime.now(UTC)

    submitted = await storage.generations.submit(
        GenerationRequest("a portrait of Alex", "plugin:portraits", world_id=world.id, params={"size": [512, 512]})
    )

    read = await storage.generations.get(submitted.id)
    assert read == submitted
    assert (read.status, read.requested_by, read.params["size"]) == ("pending", "plugin:portraits", (512, 512))
    assert read.created_at.tzinfo is not None and read.created_at >= before.replace(microsecond=0)


async def test_a_generation_for_a_missing_world_is_refused(storage: SqlStorage) -> None:
    with pytest.raises(NotFoundError):
        await storage.generations.submit(GenerationRequest("x", "api", world_id=404))

"""``/worlds/{world_id}/npcs``: the NPCs of a world. Creating one publishes ``NpcSpawned``."""

from __future__ import annotations

from fastapi import APIRouter, status

from pixsim_hooks.backend._api._deps import IdPath, Limit, Offset, Service
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import NamedCreate, NamedUpdate, NpcOut

__all__ = ["router"]

router = APIRouter(prefix="/worlds/{world_id}/npcs", tags=["npcs"], responses=problems(404))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create (spawn) an NPC in a world")
async def create_npc(world_id: IdPath, body: NamedCreate, service: Service) -> NpcOut:
    return NpcOut.model_validate(await service.create_npc(world_id, body.name, body.meta))


@router.get("", summary="List a world's NPCs")
async def list_npcs(world_id: IdPath, service: Service, limit: Limit = 100, offset: Offset = 0) -> list[NpcOut]:
    return [NpcOut.model_validate(npc) for npc in await service.list_npcs(world_id, limit=limit, offset=offset)]


@router.get("/{npc_id}", summary="Read an NPC")
async def get_npc(world_id: IdPath, npc_id: IdPath, service: Service) -> NpcOut:
    return NpcOut.model_validate(await service.get_npc(world_id, npc_id))


@router.patch("/{npc_id}", summary="Update an NPC's name and/or meta")
async def update_npc(world_id: IdPath, npc_id: IdPath, body: NamedUpdate, service: Service) -> NpcOut:
    values = body.model_dump(exclude_none=True)
    return NpcOut.model_validate(await service.update_npc(world_id, npc_id, **values))


@router.delete("/{npc_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an NPC")
async def delete_npc(world_id: IdPath, npc_id: IdPath, service: Service) -> None:
    await service.delete_npc(world_id, npc_id)

"""``/worlds``: create, list, read, update and delete game worlds."""

from __future__ import annotations

from fastapi import APIRouter, status

from pixsim_hooks.backend._api._deps import IdPath, Limit, Offset, Service
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import NamedCreate, NamedUpdate, WorldOut

__all__ = ["router"]

router = APIRouter(prefix="/worlds", tags=["worlds"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a world")
async def create_world(body: NamedCreate, service: Service) -> WorldOut:
    return WorldOut.model_validate(await service.create_world(body.name, body.meta))


@router.get("", summary="List worlds")
async def list_worlds(service: Service, limit: Limit = 100, offset: Offset = 0) -> list[WorldOut]:
    return [WorldOut.model_validate(w) for w in await service.list_worlds(limit=limit, offset=offset)]


@router.get("/{world_id}", responses=problems(404), summary="Read a world")
async def get_world(world_id: IdPath, service: Service) -> WorldOut:
    return WorldOut.model_validate(await service.get_world(world_id))


@router.patch("/{world_id}", responses=problems(404), summary="Update a world's name and/or meta")
async def update_world(world_id: IdPath, body: NamedUpdate, service: Service) -> WorldOut:
    values = body.model_dump(exclude_none=True)
    return WorldOut.model_validate(await service.update_world(world_id, **values))


@router.delete(
    "/{world_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404),
    summary="Delete a world with its locations, NPCs and sessions",
)
async def delete_world(world_id: IdPath, service: Service) -> None:
    await service.delete_world(world_id)

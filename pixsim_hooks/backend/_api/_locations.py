"""``/worlds/{world_id}/locations``: the places of a world."""

from __future__ import annotations

from fastapi import APIRouter, status

from pixsim_hooks.backend._api._deps import IdPath, Limit, Offset, Service
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import LocationOut, NamedCreate, NamedUpdate

__all__ = ["router"]

router = APIRouter(prefix="/worlds/{world_id}/locations", tags=["locations"], responses=problems(404))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a location in a world")
async def create_location(world_id: IdPath, body: NamedCreate, service: Service) -> LocationOut:
    return LocationOut.model_validate(await service.create_location(world_id, body.name, body.meta))


@router.get("", summary="List a world's locations")
async def list_locations(
    world_id: IdPath, service: Service, limit: Limit = 100, offset: Offset = 0
) -> list[LocationOut]:
    found = await service.list_locations(world_id, limit=limit, offset=offset)
    return [LocationOut.model_validate(location) for location in found]


@router.get("/{location_id}", summary="Read a location")
async def get_location(world_id: IdPath, location_id: IdPath, service: Service) -> LocationOut:
    return LocationOut.model_validate(await service.get_location(world_id, location_id))


@router.patch("/{location_id}", summary="Update a location's name and/or meta")
async def update_location(world_id: IdPath, location_id: IdPath, body: NamedUpdate, service: Service) -> LocationOut:
    values = body.model_dump(exclude_none=True)
    return LocationOut.model_validate(await service.update_location(world_id, location_id, **values))


@router.delete("/{location_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a location")
async def delete_location(world_id: IdPath, location_id: IdPath, service: Service) -> None:
    await service.delete_location(world_id, location_id)

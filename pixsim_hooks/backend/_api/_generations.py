"""``/generations``: content generation requests (recorded as pending for a generation worker)."""

from __future__ import annotations

from fastapi import APIRouter, status

from pixsim_hooks.backend._api._deps import IdPath, Service
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import GenerationCreate, GenerationOut
from pixsim_hooks.plugin import GenerationRequest

__all__ = ["router"]

router = APIRouter(prefix="/generations", tags=["generations"], responses=problems(404))

# Who asked comes from the channel, never the body: plugins submit as "plugin:<id>" through their capability.
HTTP_REQUESTER = "api"


@router.post("", status_code=status.HTTP_201_CREATED, summary="Submit a generation request")
async def submit_generation(body: GenerationCreate, service: Service) -> GenerationOut:
    request = GenerationRequest(
        prompt=body.prompt, requested_by=HTTP_REQUESTER, world_id=body.world_id, params=body.params
    )
    return GenerationOut.model_validate(await service.submit_generation(request))


@router.get("/{generation_id}", summary="Read a generation request")
async def get_generation(generation_id: IdPath, service: Service) -> GenerationOut:
    return GenerationOut.model_validate(await service.get_generation(generation_id))

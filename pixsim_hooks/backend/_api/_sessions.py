"""``/sessions``: game sessions and the writes that change them.

Every write answers the new session with its version as ``ETag``; sending that version back as
``If-Match`` makes the write apply only to it (409 otherwise). Without ``If-Match`` concurrent writes are
merged by retrying.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from pixsim_hooks.backend._api._deps import ExpectedVersion, IdPath, Service
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import (
    AdvanceTime,
    InteractionCreate,
    InteractionOut,
    JsonObject,
    LocationMove,
    RelationshipDeltas,
    SessionCreate,
    SessionOut,
)
from pixsim_hooks.plugin import SessionSnapshot

__all__ = ["router"]

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=problems(404))

FlagsPatch = Annotated[
    JsonObject,
    Body(
        description="Top-level flag keys to set; a null value deletes the key.",
        examples=[{"quest:intro": "done", "met_alex": True, "old_flag": None}],
    ),
]
ETAG = {
    "headers": {
        "ETag": {"description": 'The session version, quoted (``"3"``).', "schema": {"type": "string"}},
    }
}
NpcKey = Annotated[str, Path(pattern=r"^npc:[0-9]+$", description='``"npc:<id>"``', examples=["npc:1"])]


def _answer(response: Response, session: SessionSnapshot) -> SessionOut:
    """The session body, with its version as a strong ETag (the value ``If-Match`` takes back)."""
    out = SessionOut.model_validate(session)
    response.headers["ETag"] = f'"{out.version}"'
    return out


# The operations that take a session's id, linked from the session's creation (OpenAPI links: a client, or
# schemathesis's stateful phase, follows them with the id it was given).
LINKED = (
    "get_session",
    "patch_flags",
    "change_relationship",
    "advance_time",
    "execute_interaction",
    "move_player",
    "tick_session",
    "delete_session",
)
CREATED = {
    **ETAG,
    "links": {op: {"operationId": op, "parameters": {"session_id": "$response.body#/id"}} for op in LINKED},
}


@router.post("", status_code=status.HTTP_201_CREATED, responses={201: CREATED}, summary="Start a session in a world")
async def create_session(body: SessionCreate, response: Response, service: Service) -> SessionOut:
    session = await service.create_session(body.world_id, flags=body.flags, relationships=body.relationships)
    return _answer(response, session)


@router.get("/{session_id}", responses={200: ETAG}, summary="Read a session", operation_id="get_session")
async def get_session(session_id: IdPath, response: Response, service: Service) -> SessionOut:
    return _answer(response, await service.get_session(session_id))


@router.delete(
    "/{session_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a session", operation_id="delete_session"
)
async def delete_session(session_id: IdPath, service: Service) -> None:
    await service.delete_session(session_id)


@router.patch(
    "/{session_id}/flags",
    responses={200: ETAG, **problems(409)},
    summary="Merge flags (null deletes a key)",
    operation_id="patch_flags",
)
async def patch_flags(
    session_id: IdPath, patch: FlagsPatch, response: Response, service: Service, expected: ExpectedVersion
) -> SessionOut:
    return _answer(response, await service.set_flags(session_id, patch, expected_version=expected))


@router.post(
    "/{session_id}/relationships/{npc_key}",
    responses={200: ETAG, **problems(409)},
    summary="Add deltas to a relationship's metrics",
    operation_id="change_relationship",
)
async def change_relationship(
    session_id: IdPath,
    npc_key: NpcKey,
    body: RelationshipDeltas,
    response: Response,
    service: Service,
    expected: ExpectedVersion,
) -> SessionOut:
    session = await service.change_relationship(session_id, npc_key, body.deltas(), expected_version=expected)
    return _answer(response, session)


@router.post(
    "/{session_id}/advance-time",
    responses={200: ETAG, **problems(409)},
    summary="Advance the world clock",
    operation_id="advance_time",
)
async def advance_time(
    session_id: IdPath, body: AdvanceTime, response: Response, service: Service, expected: ExpectedVersion
) -> SessionOut:
    return _answer(response, await service.advance_time(session_id, body.seconds, expected_version=expected))


@router.post(
    "/{session_id}/interactions",
    responses={200: ETAG, **problems(409)},
    summary="Interact with an NPC",
    operation_id="execute_interaction",
)
async def execute_interaction(
    session_id: IdPath, body: InteractionCreate, response: Response, service: Service, expected: ExpectedVersion
) -> InteractionOut:
    deltas = body.relationship_deltas.deltas() if body.relationship_deltas else None
    session = await service.execute_interaction(
        session_id,
        body.npc_id,
        body.interaction,
        payload=body.payload,
        relationship_deltas=deltas,
        expected_version=expected,
    )
    return InteractionOut(session=_answer(response, session), npc_id=body.npc_id, interaction=body.interaction)


@router.post(
    "/{session_id}/location",
    responses={200: ETAG, **problems(409)},
    summary="Move the player to a location",
    operation_id="move_player",
)
async def move_player(
    session_id: IdPath, body: LocationMove, response: Response, service: Service, expected: ExpectedVersion
) -> SessionOut:
    return _answer(response, await service.move_player(session_id, body.location_id, expected_version=expected))

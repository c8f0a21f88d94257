"""``POST /sessions/{id}/tick``: advance a session's clock and let its world's NPCs act (the behavior engine).

One tick is one version-checked write (published as ``SessionUpdated`` / ``WorldTimeAdvanced`` like any other);
bad behavior JSON in the world, its NPCs or the session is a 422 problem naming the JSON path, with nothing written.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from pixsim_hooks.backend._api._deps import IdPath
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend._api._schemas import Seconds, Seed
from pixsim_hooks.backend._services import GameService
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.behavior import DecisionStatus, tick
from pixsim_hooks.host import PluginHost

__all__ = ["DecisionOut", "TickOut", "TickRequest", "router"]

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=problems(404))


class TickRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: Seconds
    seed: Seed


class DecisionOut(BaseModel):
    npc_id: int
    npc_name: str
    tier: str
    detail_level: str
    status: DecisionStatus
    activity_id: str | None = Field(description="The NPC's activity after the tick (null: idle).")
    activity_name: str | None
    score: float | None = Field(description="Score of the chosen activity when the NPC decided with scoring.")
    energy: float | None
    location_id: int | None
    plugins: list[str] = Field(description="Plugins whose condition, scoring factor or effect took part.")
    failed_plugins: list[str] = Field(description="Plugins whose call failed; their fallback was used.")
    suggested: bool = Field(description="The chosen activity came from a plugin suggestion.")


class TickOut(BaseModel):
    session_id: int
    world_id: int
    seed: int
    world_time_before: float
    world_time_after: float
    version: int = Field(description="The session's version after the tick.")
    attempts: int = Field(description="1 unless concurrent writers made the tick recompute.")
    decisions: int
    simulated: int
    rows: list[DecisionOut]


@router.post(
    "/{session_id}/tick",
    responses=problems(409, 422),
    summary="Advance world time and simulate the world's NPCs",
    operation_id="tick_session",
)
async def tick_session(session_id: IdPath, body: TickRequest, request: Request) -> TickOut:
    state = request.app.state
    service = cast(GameService, state.service)
    report = await tick(
        cast(PluginHost, state.host),
        cast(SqlStorage, state.storage),
        session_id,
        body.seconds,
        seed=body.seed,
        apply_change=service.apply_change,
    )
    return TickOut.model_validate(report.to_json())

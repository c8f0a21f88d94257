"""Stealth: a pickpocketing mini-game over HTTP, mounted at ``/api/v1/plugins/stealth/``.

- ``POST /sessions/{session_id}/pickpocket`` ``{"npc_id": 3, "skill": 55}`` — one attempt on an NPC. The outcome is
  deterministic: it succeeds when ``skill`` reaches the NPC's :func:`alertness` (derived from the NPC id), so a
  client can reason about it and a test can rely on it. Counts go to the plugin's own session flags
  ``stealth_attempts`` / ``stealth_successes`` (stored as ``plugin:stealth:...``).
- ``GET /sessions/{session_id}/stealth`` — those counts.
- ``GET /worlds/{world_id}/status`` — world-scoped: the host answers 404 for worlds that have not enabled the plugin.

The NPC id is not looked up: that would need ``npc:read``, and an attempt on an id that names no NPC harms nobody.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixsim_hooks import NotFoundError, PluginContext, PluginManifest, PluginNotEnabled, StaleWriteError, hookimpl
from pixsim_hooks.fastapi import MAX_JSON_ID, IdPath, get_plugin_context

__all__ = ["ATTEMPTS_FLAG", "SUCCESSES_FLAG", "alertness", "manifest", "provide_router"]

manifest = PluginManifest(
    id="stealth",
    name="Stealth",
    version="1.0.0",
    description="Deterministic pickpocketing: attempts and successes kept in the session's own flags.",
    author="PixSim",
    kind="route",
    trust="first_party",
    permissions=("routes:register", "session:read", "session:write", "log:emit"),
)

ATTEMPTS_FLAG = "stealth_attempts"
SUCCESSES_FLAG = "stealth_successes"
MAX_ATTEMPTS = 20  # compare-and-set rounds before giving up with 409

Ctx = Annotated[PluginContext, Depends(get_plugin_context(manifest.id))]


def alertness(npc_id: int) -> int:
    """How hard an NPC is to pickpocket, 20..90: a fixed scramble of its id, the same on every server."""
    return 20 + (npc_id * 37) % 71


class PickpocketAttempt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    npc_id: int = Field(ge=1, le=MAX_JSON_ID, description="The NPC to pickpocket.")
    skill: int = Field(ge=0, le=100, description="The player's stealth skill; success when >= the NPC's alertness.")

    @field_validator("npc_id", "skill", mode="before")
    @classmethod
    def _a_json_number(cls, value: Any) -> Any:
        if isinstance(value, bool | str):  # pydantic would take true as 1 and "55" as 55; JSON's integers only
            raise ValueError("must be a JSON integer")
        return value


class StealthRecord(BaseModel):
    session_id: int
    attempts: int
    successes: int


class PickpocketResult(StealthRecord):
    npc_id: int
    skill: int
    alertness: int
    success: bool


class WorldStatus(BaseModel):
    plugin: str
    world_id: int
    enabled: bool


@hookimpl
def provide_router(ctx: PluginContext) -> APIRouter:
    """A fresh router per app, so that each app (and test) mounts its own."""
    router = APIRouter(tags=["plugin:stealth"])
    router.add_api_route("/sessions/{session_id}/pickpocket", pickpocket, methods=["POST"], summary="Pickpocket")
    router.add_api_route("/sessions/{session_id}/stealth", read_record, methods=["GET"], summary="Stealth counts")
    router.add_api_route("/worlds/{world_id}/status", world_status, methods=["GET"], summary="Enabled here?")
    return router


async def pickpocket(session_id: IdPath, attempt: PickpocketAttempt, ctx: Ctx) -> PickpocketResult:
    """One deterministic pickpocket attempt on ``attempt.npc_id``; the session's counts go up."""
    threshold = alertness(attempt.npc_id)
    success = attempt.skill >= threshold
    record = await _count_attempt(ctx, session_id, success)
    attempts, successes = record.attempts, record.successes
    ctx.log.info("pickpocket", session_id=session_id, npc_id=attempt.npc_id, skill=attempt.skill, success=success)
    return PickpocketResult(
        session_id=session_id,
        attempts=attempts,
        successes=successes,
        npc_id=attempt.npc_id,
        skill=attempt.skill,
        alertness=threshold,
        success=success,
    )


async def read_record(session_id: IdPath, ctx: Ctx) -> StealthRecord:
    """The session's stealth counts (zero before the first attempt)."""
    record, _ = await _read(ctx, session_id)
    return record


async def world_status(world_id: IdPath, ctx: Ctx) -> WorldStatus:
    # Reaching this handler is the answer: the host refuses world-scoped paths of worlds that disabled us.
    return WorldStatus(plugin=ctx.plugin_id, world_id=world_id, enabled=True)


async def _read(ctx: PluginContext, session_id: int) -> tuple[StealthRecord, int]:
    """The counts and the session version they were read at."""
    session = await ctx.session.get_session(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {session_id} not found")
    flags = session.flags
    record = StealthRecord(
        session_id=session_id,
        attempts=_count(flags.get(f"plugin:{ctx.plugin_id}:{ATTEMPTS_FLAG}")),
        successes=_count(flags.get(f"plugin:{ctx.plugin_id}:{SUCCESSES_FLAG}")),
    )
    return record, session.version


async def _count_attempt(ctx: PluginContext, session_id: int, success: bool) -> StealthRecord:
    """Compare-and-set both counters in one write; concurrent attempts retry instead of losing counts."""
    for _ in range(MAX_ATTEMPTS):
        record, version = await _read(ctx, session_id)
        updated = StealthRecord(
            session_id=session_id, attempts=record.attempts + 1, successes=record.successes + int(success)
        )
        values = {ATTEMPTS_FLAG: updated.attempts, SUCCESSES_FLAG: updated.successes}
        try:
            await ctx.session.set_flags(session_id, values, expected_version=version)
        except StaleWriteError:
            continue  # another writer got there first: read again
        except NotFoundError as exc:  # deleted between our read and this write
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except PluginNotEnabled:
            # The same answer the host gives on world-scoped paths: to a world without stealth this does not exist.
            raise HTTPException(status.HTTP_404_NOT_FOUND, "stealth is not enabled in this session's world") from None
        return updated
    raise HTTPException(status.HTTP_409_CONFLICT, "the session kept changing; try the attempt again")


def _count(value: Any) -> int:
    # A hand-edited flag that is not a count is treated as no count rather than failing every later request.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

"""Request and response bodies of the ``/api/v1`` game API.

Responses are built from store snapshots (``from_attributes``); JSON fields are free-form objects (the
behavior model lives in them), checked only for finite numbers, which JSON columns cannot store.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pixsim_hooks.plugin import thaw

__all__ = [
    "AdvanceTime",
    "FieldError",
    "GenerationCreate",
    "GenerationOut",
    "InteractionCreate",
    "InteractionOut",
    "JsonObject",
    "LocationMove",
    "LocationOut",
    "NamedCreate",
    "NamedUpdate",
    "NpcOut",
    "Problem",
    "RelationshipDeltas",
    "SessionCreate",
    "SessionOut",
    "ValidationProblem",
    "WorldOut",
]


def _finite_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict):
        for item in value.values():
            _finite_json(item)
    elif isinstance(value, list):
        for item in value:
            _finite_json(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_finite_json)]
StoredJson = Annotated[dict[str, Any], BeforeValidator(thaw)]
"""A JSON field of a response: a plain copy of the snapshot's frozen value, so that nothing of the object plugins
were handed (events carry the same snapshots) is part of what is sent."""
Finite = Annotated[float, Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- worlds, locations, NPCs: the same shape
class NamedCreate(_Input):
    name: Name
    meta: JsonObject = Field(default_factory=dict, description="Free-form JSON (e.g. ``behavior``).")


class NamedUpdate(_Input):
    """Fields to replace; omitted fields keep their value (``meta`` is replaced whole)."""

    name: Name | None = None
    meta: JsonObject | None = None


class WorldOut(_Output):
    id: int
    name: str
    meta: StoredJson


class LocationOut(_Output):
    id: int
    world_id: int
    name: str
    meta: StoredJson


class NpcOut(_Output):
    id: int
    world_id: int
    name: str
    meta: StoredJson


# -- sessions
class SessionCreate(_Input):
    world_id: int
    flags: JsonObject = Field(default_factory=dict)
    relationships: JsonObject = Field(default_factory=dict, description='Keyed ``"npc:<id>"``.')


class SessionOut(_Output):
    id: int
    world_id: int
    world_time: float = Field(description="Seconds of game time.")
    version: int = Field(description="Bumped by every write; send it back as ``If-Match`` to pin it.")
    flags: StoredJson
    relationships: StoredJson


class RelationshipDeltas(_Input):
    """Amounts added to the current metric values (a missing value counts as 0)."""

    affinity: Finite | None = None
    trust: Finite | None = None
    chemistry: Finite | None = None
    tension: Finite | None = None

    def deltas(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class AdvanceTime(_Input):
    seconds: Annotated[float, Field(gt=0, allow_inf_nan=False, description="Game seconds to advance.")]


class InteractionCreate(_Input):
    npc_id: int
    interaction: Annotated[str, Field(min_length=1, max_length=100, examples=["talk"])]
    payload: JsonObject = Field(default_factory=dict)
    relationship_deltas: RelationshipDeltas | None = Field(
        default=None, description="Applied to this NPC's relationship in the same commit."
    )


class InteractionOut(BaseModel):
    session: SessionOut
    npc_id: int
    interaction: str


class LocationMove(_Input):
    location_id: int


# -- generations
class GenerationCreate(_Input):
    prompt: Annotated[str, Field(min_length=1, max_length=10_000)]
    world_id: int | None = None
    params: JsonObject = Field(default_factory=dict)


class GenerationOut(_Output):
    id: int
    world_id: int | None
    prompt: str
    params: StoredJson
    status: str
    requested_by: str = Field(description='``"api"`` for HTTP requests, ``"plugin:<id>"`` for plugins.')
    created_at: datetime


# -- errors (RFC 9457)
class Problem(BaseModel):
    """An ``application/problem+json`` body (RFC 9457)."""

    type: str = Field(description="A URI naming the problem type.")
    title: str
    status: int
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    errors: list[FieldError] = Field(description="One entry per invalid field; ``loc`` is its path.")

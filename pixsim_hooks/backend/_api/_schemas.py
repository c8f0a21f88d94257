"""Request and response bodies of the ``/api/v1`` game API.

Responses are built from store snapshots (``from_attributes``); JSON fields are free-form objects (the
behavior model lives in them, validated by the service when written), checked here for finite numbers, which JSON
columns cannot store. Numbers are JSON's own (``true`` is no integer, ``"1"`` no number) and every one has a declared
range: ids within 1 .. 2**53 - 1 (``MAX_JSON_ID``), seconds within :data:`MAX_ADVANCE_SECONDS`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pixsim_hooks.fastapi import MAX_JSON_ID
from pixsim_hooks.plugin import thaw

__all__ = [
    "MAX_ADVANCE_SECONDS",
    "MAX_API_DELTA",
    "AdvanceTime",
    "FieldError",
    "GenerationCreate",
    "GenerationOut",
    "InteractionCreate",
    "InteractionOut",
    "JsonNumber",
    "JsonObject",
    "RowId",
    "Seconds",
    "Seed",
    "LocationMove",
    "LocationOut",
    "NamedCreate",
    "NamedUpdate",
    "NpcOut",
    "Problem",
    "RelationshipDeltas",
    "SessionCreate",
    "SessionOut",
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
MAX_ADVANCE_SECONDS = 1e9
"""The most game time one request advances (about 31 years): a bound the clock can add up without overflowing."""
MAX_API_DELTA = 1e6
"""The largest change of one relationship metric in one request."""
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _json_number(value: Any) -> Any:
    # JSON's own types: a boolean or a string is no number (pydantic's lax mode would take true as 1 and "1" as 1),
    # while 3.0 is still the integer 3, as JSON Schema's "integer" has it (strict mode would refuse it).
    if isinstance(value, bool | str):
        raise ValueError(f"must be a JSON number, not a {'boolean' if isinstance(value, bool) else 'string'}")
    return value


JsonNumber = BeforeValidator(_json_number)
# The Field before the validator: so pydantic documents its bounds as JSON Schema's minimum / maximum.
RowId = Annotated[int, Field(ge=1, le=MAX_JSON_ID, description="A row id (1 to 2**53 - 1)."), JsonNumber]
Delta = Annotated[float, Field(ge=-MAX_API_DELTA, le=MAX_API_DELTA, allow_inf_nan=False), JsonNumber]
Seconds = Annotated[
    float,
    Field(gt=0, le=MAX_ADVANCE_SECONDS, allow_inf_nan=False, description="Game seconds to advance."),
    JsonNumber,
]
Seed = Annotated[
    int,
    Field(
        ge=-MAX_JSON_ID,
        le=MAX_JSON_ID,
        description="Seeds the NPCs' random choices: the same seed on the same data repeats.",
    ),
    JsonNumber,
]


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
    world_id: RowId
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

    affinity: Delta | None = None
    trust: Delta | None = None
    chemistry: Delta | None = None
    tension: Delta | None = None

    def deltas(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class AdvanceTime(_Input):
    seconds: Seconds


class InteractionCreate(_Input):
    npc_id: RowId
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
    location_id: RowId


# -- generations
class GenerationCreate(_Input):
    prompt: Annotated[str, Field(min_length=1, max_length=10_000)]
    world_id: RowId | None = None
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
class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An ``application/problem+json`` body (RFC 9457): the one schema of every error the API answers."""

    type: str = Field(description="A URI naming the problem type, e.g. ``urn:pixsim:problem:validation``.")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="422: one entry per invalid field; ``loc`` is its path."
    )
    plugin: str | None = Field(default=None, description="403 and 502 of plugin routes: the plugin that failed.")
    permission: str | None = Field(default=None, description="403: the permission the plugin does not hold.")

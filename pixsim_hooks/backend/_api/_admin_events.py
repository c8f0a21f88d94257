"""``/admin/events``: how events are delivered, and each plugin's dead letters, which the operator can re-drive.

With ``PIXSIM_REDIS_URL`` events go through the deployment's event log to the workers; an event a plugin failed
``PIXSIM_EVENTS_MAX_ATTEMPTS`` times is a dead letter until re-driven (delivered again, to that plugin alone, with a
fresh count of attempts). Without Redis, events are delivered inline and there are none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from pixsim_hooks.backend._api._admin import Host, PluginId, require_admin
from pixsim_hooks.backend._api._problems import problems
from pixsim_hooks.backend.events import event_plugins

if TYPE_CHECKING:
    from pixsim_hooks.backend.events import DeadLetter, RedisEventLog

__all__ = ["router"]

router = APIRouter(
    prefix="/admin/events", tags=["admin"], dependencies=[Depends(require_admin)], responses=problems(401, 503)
)
EntryId = Annotated[str, Path(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$", description="The dead letter's entry id.")]


class DeadLetterOut(BaseModel):
    plugin_id: str
    entry_id: str = Field(description="Its id among the plugin's dead letters (the one to re-drive).")
    event_id: str
    event_type: str
    world_id: int
    session_id: int | None
    attempts: int = Field(description="Deliveries the plugin failed before the event was dead-lettered.")
    error: str = Field(description="What the last one failed with.")
    failed_at: float = Field(description="When (Unix time).")


class PluginEventsOut(BaseModel):
    plugin_id: str
    dead_letters: int


class EventsOut(BaseModel):
    delivery: Literal["inline", "streams"] = Field(
        description="inline: in the process that committed; streams: through Redis, by `pixsim-hooks worker`."
    )
    plugins: list[PluginEventsOut] = Field(description="The plugins with event handlers.")


def _log_of(request: Request) -> RedisEventLog | None:
    log: RedisEventLog | None = request.app.state.event_log
    return log


def _handler(host: Host, plugin_id: str) -> None:
    if plugin_id not in event_plugins(host):
        raise HTTPException(404, f"plugin {plugin_id!r} handles no events here")


def _out(dead: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut.model_validate(dead, from_attributes=True)


@contextmanager
def _reaching_redis() -> Iterator[None]:
    from pixsim_hooks.backend.events import FAILURES  # only with a log: redis-py is then installed

    try:
        yield
    except FAILURES as exc:
        raise HTTPException(503, f"the event log on Redis cannot be reached: {exc}") from None


@router.get("", summary="How events are delivered, and each event-handling plugin's dead letters")
async def events(request: Request, host: Host) -> EventsOut:
    log = _log_of(request)
    plugins = event_plugins(host)
    if log is None:
        return EventsOut(delivery="inline", plugins=[PluginEventsOut(plugin_id=p, dead_letters=0) for p in plugins])
    with _reaching_redis():
        counts = [PluginEventsOut(plugin_id=p, dead_letters=await log.dead_count(p)) for p in plugins]
    return EventsOut(delivery="streams", plugins=counts)


@router.get(
    "/dead-letters/{plugin_id}", responses=problems(404), summary="A plugin's dead letters, oldest first (at most 100)"
)
async def dead_letters(plugin_id: PluginId, request: Request, host: Host) -> list[DeadLetterOut]:
    _handler(host, plugin_id)
    log = _log_of(request)
    if log is None:
        return []
    with _reaching_redis():
        return [_out(dead) for dead in await log.dead_letters(plugin_id)]


@router.post(
    "/dead-letters/{plugin_id}/{entry_id}/redrive",
    responses=problems(404, 409),
    summary="Deliver a dead letter to its plugin again (a fresh count of attempts)",
)
async def redrive(plugin_id: PluginId, entry_id: EntryId, request: Request, host: Host) -> DeadLetterOut:
    _handler(host, plugin_id)
    log = _log_of(request)
    if log is None:
        raise HTTPException(409, "events are delivered inline here (no PIXSIM_REDIS_URL): there are no dead letters")
    with _reaching_redis():
        dead = await log.redrive(plugin_id, entry_id)
    if dead is None:
        raise HTTPException(404, f"plugin {plugin_id!r} has no dead letter {entry_id}")
    return _out(dead)

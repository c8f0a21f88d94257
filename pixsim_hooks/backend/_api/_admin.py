"""``/admin``: plugins as the host sees them, global enable / disable, and per-world enablement.

Authenticated by ``Authorization: Bearer <PIXSIM_ADMIN_TOKEN>``; without a configured token the admin API is off
(404). A wrong or missing token is a 401.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from pixsim_hooks._exceptions import ConfigError, PluginLoadError, UnknownPluginError
from pixsim_hooks._fastapi import host_of
from pixsim_hooks._frozen import thaw
from pixsim_hooks._host import PluginHost, PluginInfo, PluginState
from pixsim_hooks._world import enabled_plugins_from_meta
from pixsim_hooks.backend._api._problems import problems

__all__ = ["require_admin", "router"]

_bearer = HTTPBearer(auto_error=False, description="PIXSIM_ADMIN_TOKEN")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token: str | None = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(404, "the admin API is off: set PIXSIM_ADMIN_TOKEN to turn it on")
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid admin bearer token is required", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])
Host = Annotated[PluginHost, Depends(host_of)]


class FailureOut(BaseModel):
    where: str
    outcome: str
    exc_type: str
    message: str
    world_id: int | None
    at: float


class HealthOut(BaseModel):
    failures: dict[str, int]
    denials: int
    recent: list[FailureOut]


class PluginOut(BaseModel):
    id: str
    state: PluginState
    reason: str | None
    source: str
    manifest: dict[str, Any] | None
    permissions: list[str]
    unknown_permissions: list[str]
    ignored_hooks: list[str]
    health: HealthOut


class WorldPluginsOut(BaseModel):
    world_id: int
    enabled_plugins: list[str] | None = Field(description="meta.behavior.enabledPlugins; null = every plugin")
    effective: list[str] = Field(description="Globally enabled plugins that take part in this world")


class Enablement(BaseModel):
    enabled: bool


def _plugin_out(host: PluginHost, info: PluginInfo, *, recent: int) -> PluginOut:
    health = host.health.of(info.id)
    return PluginOut(
        id=info.id,
        state=info.state,
        reason=info.reason,
        source=info.source,
        manifest=info.manifest.model_dump(mode="json") if info.manifest else None,
        permissions=list(info.permissions),
        unknown_permissions=list(info.unknown_permissions),
        ignored_hooks=list(info.ignored_hooks),
        health=HealthOut(
            failures={k.value: v for k, v in health.failures.items()},
            denials=health.denials,
            recent=[FailureOut.model_validate(r, from_attributes=True) for r in list(health.recent)[-recent:]],
        ),
    )


def _info(host: PluginHost, plugin_id: str) -> PluginInfo:
    try:
        return host.plugin(plugin_id)
    except UnknownPluginError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/plugins", summary="List plugins with state, permissions and health")
async def list_plugins(host: Host) -> list[PluginOut]:
    return [_plugin_out(host, info, recent=5) for info in host.plugins()]


@router.get("/plugins/{plugin_id}", responses=problems(404), summary="One plugin, with its recent failures")
async def get_plugin(plugin_id: str, host: Host) -> PluginOut:
    return _plugin_out(host, _info(host, plugin_id), recent=50)


@router.post("/plugins/{plugin_id}/enable", responses=problems(404, 409), summary="Enable a plugin globally")
async def enable_plugin(plugin_id: str, host: Host) -> PluginOut:
    _info(host, plugin_id)
    try:
        info = await host.enable(plugin_id)
    except PluginLoadError as exc:
        raise HTTPException(409, str(exc)) from None
    return _plugin_out(host, info, recent=50)


@router.post("/plugins/{plugin_id}/disable", responses=problems(404), summary="Disable a plugin globally")
async def disable_plugin(plugin_id: str, host: Host) -> PluginOut:
    _info(host, plugin_id)
    return _plugin_out(host, await host.disable(plugin_id), recent=50)


@router.get("/worlds/{world_id}/plugins", responses=problems(404), summary="Which plugins a world enables")
async def world_plugins(world_id: int, host: Host) -> WorldPluginsOut:
    return await _world_plugins(host, world_id)


@router.put(
    "/worlds/{world_id}/plugins/{plugin_id}",
    responses=problems(404, 422),
    summary="Enable or disable a plugin for one world (writes meta.behavior.enabledPlugins)",
)
async def set_world_plugin(world_id: int, plugin_id: str, body: Enablement, host: Host) -> WorldPluginsOut:
    _info(host, plugin_id)
    world = await host.storage.worlds.get_world(world_id)
    if world is None:
        raise HTTPException(404, f"world {world_id} does not exist")
    meta = thaw(world.meta)
    behavior = meta.setdefault("behavior", {})
    if not isinstance(behavior, dict):
        raise ConfigError("meta.behavior must be an object", path="meta.behavior")
    current = enabled_plugins_from_meta(meta, world_id=world_id)
    # Absent means "every plugin": make that explicit before taking one out, so the others stay enabled.
    chosen = set(current) if current is not None else {i.id for i in host.plugins() if i.manifest is not None}
    chosen = chosen | {plugin_id} if body.enabled else chosen - {plugin_id}
    behavior["enabledPlugins"] = sorted(chosen)
    await host.storage.worlds.update_world(world_id, meta=meta)  # type: ignore[attr-defined]
    return await _world_plugins(host, world_id)


async def _world_plugins(host: PluginHost, world_id: int) -> WorldPluginsOut:
    world = await host.storage.worlds.get_world(world_id)
    if world is None:
        raise HTTPException(404, f"world {world_id} does not exist")
    scope = host.world_scope(world_id, world.meta)
    effective = [i.id for i in host.plugins() if i.state is PluginState.ENABLED and scope.allows(i.id)]
    return WorldPluginsOut(
        world_id=world_id,
        enabled_plugins=sorted(scope.enabled) if scope.enabled is not None else None,
        effective=effective,
    )

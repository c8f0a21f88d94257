"""``/admin``: plugins as the host sees them, global enable / disable, and per-world enablement.

Authenticated by ``Authorization: Bearer <PIXSIM_ADMIN_TOKEN>``; without a configured token the admin API is off
(404). A wrong or missing token is a 401.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field

from pixsim_hooks.backend._api._deps import IdPath
from pixsim_hooks.backend._api._problems import QUARANTINED, problem_response, problems
from pixsim_hooks.backend.behavior import check_world_meta
from pixsim_hooks.fastapi import host_of
from pixsim_hooks.host import PluginHost, PluginInfo, PluginState, SharedFailure, enabled_plugins_from_meta
from pixsim_hooks.plugin import (
    ConfigError,
    HookDeadlineExceeded,
    PluginCrashed,
    PluginLoadError,
    ProtocolError,
    UnknownPluginError,
    thaw,
)

__all__ = ["admin_guard", "require_admin", "router"]

_bearer = HTTPBearer(auto_error=False, description="PIXSIM_ADMIN_TOKEN")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    _check_admin(request, credentials.credentials if credentials is not None else "")


async def admin_guard(request: Request) -> None:
    """The same check for the plugins' admin routes, run on the host's side before the plugin's sub-application
    (no FastAPI dependency there: plugin code could override one). Parses the header as ``HTTPBearer`` does."""
    scheme, given = get_authorization_scheme_param(request.headers.get("authorization"))
    _check_admin(request, given if scheme.lower() == "bearer" else "")


def _check_admin(request: Request, given: str) -> None:
    token: str | None = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(404, "the admin API is off: set PIXSIM_ADMIN_TOKEN to turn it on")
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid admin bearer token is required", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)], responses=problems(401))
# Any id the host lists: a manifest's slug, and for a plugin refused before its manifest was read, its entry point's
# name, `process:<target>` or `<id>@<source>`; unknown ones are a 404.
PluginId = Annotated[str, Path(min_length=1, max_length=500, description="A plugin id, as the plugin list shows it.")]
Host = Annotated[PluginHost, Depends(host_of)]


class FailureOut(BaseModel):
    where: str
    outcome: str
    exc_type: str
    message: str
    world_id: int | None
    at: float


class SharedFailureOut(FailureOut):
    replica: str = Field(description="The process it happened in")


class DeploymentHealthOut(BaseModel):
    window_failures: int = Field(description="Failures within the health window in every process of the deployment")
    by_replica: dict[str, int] = Field(description="Those failures, per process")
    recent: list[SharedFailureOut] = Field(description="The latest of them, oldest first")


class HealthOut(BaseModel):
    healthy: bool = Field(description="No failure within the sliding window (in this process)")
    window_s: float
    window_failures: int
    window_calls: int
    error_rate: float
    last_success: float | None
    failures: dict[str, int] = Field(description="Lifetime failures by outcome")
    denials: int
    recent: list[FailureOut]
    deployment: DeploymentHealthOut | None = Field(
        default=None,
        description="The same window over every process of the deployment (null: one process, or Redis unreachable)",
    )


class BreakerOut(BaseModel):
    plugin_id: str
    world_id: int
    state: str
    recent_failures: int
    opened_at: float | None


class PluginMetricsOut(BaseModel):
    plugin_id: str
    hook: str
    calls: int = Field(description="Successful calls since start")


class PluginOut(BaseModel):
    id: str
    state: PluginState
    reason: str | None
    source: str
    runs: str = Field(description="in_process, process (<sandbox in force>) or remote (<endpoint>)")
    manifest: dict[str, Any] | None
    permissions: list[str]
    unknown_permissions: list[str]
    ignored_hooks: list[str]
    health: HealthOut
    breakers: list[BreakerOut]


class SharedWordOut(BaseModel):
    state: str = Field(description="enabled, disabled or quarantined, in every process of the deployment")
    reason: str | None
    by: str = Field(description="The process that said it")
    at: float


class FailingOut(BaseModel):
    window_failures: int = Field(description="Failures within that process's health window")
    window_calls: int
    last: str = Field(description="Where the last one happened, and what was raised")


class ReplicaOut(BaseModel):
    replica: str
    plugins: dict[str, str] = Field(description="Each plugin's state in that process, as it last reported")
    failing: dict[str, FailingOut] = Field(description="Plugins with failures in that process's health window")
    connected: bool
    seen_at: float
    alive: bool = Field(description="It reported within three reconcile periods")


class DeploymentOut(BaseModel):
    shared: bool = Field(description="False: one process (no PIXSIM_REDIS_URL), nothing is shared")
    replica: str = Field(description="The process that answered")
    connected: bool = Field(description="That process reaches the shared store (else it serves its last known state)")
    last_error: str | None
    words: dict[str, SharedWordOut] = Field(description="The operator's word on each plugin, for every process")
    replicas: list[ReplicaOut]
    window_failures: dict[str, int] = Field(
        description="Each failing plugin's failures within the health window, summed over the processes alive"
    )


class WorldPluginsOut(BaseModel):
    world_id: int
    enabled_plugins: list[str] | None = Field(description="meta.behavior.enabledPlugins; null = every plugin")
    effective: list[str] = Field(description="Globally enabled plugins that take part in this world")


class Enablement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(strict=True)  # JSON's true or false only (lax mode takes 1, "yes", "on")


Shared = dict[str, list[SharedFailure]] | None


async def _shared_failures(host: PluginHost, plugin_ids: list[str]) -> Shared:
    """The plugins' failures in every process of the deployment within the health window (None: not shared)."""
    return await host.control.failures(plugin_ids, since=time.time() - host.settings.health_window_s)


def _health_out(host: PluginHost, plugin_id: str, *, recent: int, shared: Shared) -> HealthOut:
    view = host.health.view(plugin_id)
    data = {k: getattr(view, k) for k in HealthOut.model_fields if k not in ("recent", "deployment")}
    failures = [FailureOut.model_validate(r, from_attributes=True) for r in view.recent[-recent:]]
    deployment = None
    if shared is not None:
        window = shared.get(plugin_id, [])
        deployment = DeploymentHealthOut(
            window_failures=len(window),
            by_replica=dict(sorted(Counter(f.replica for f in window).items())),
            recent=[SharedFailureOut.model_validate(f, from_attributes=True) for f in window[-recent:]],
        )
    return HealthOut(**data, recent=failures, deployment=deployment)


def _breakers_out(host: PluginHost, plugin_id: str | None = None) -> list[BreakerOut]:
    return [
        BreakerOut.model_validate(v, from_attributes=True)
        for v in host.breakers.states()
        if plugin_id is None or v.plugin_id == plugin_id
    ]


def _plugin_out(host: PluginHost, info: PluginInfo, *, recent: int, shared: Shared) -> PluginOut:
    return PluginOut(
        id=info.id,
        state=info.state,
        reason=info.reason,
        source=info.source,
        runs=host.runs_as(info.id),
        manifest=info.manifest.model_dump(mode="json") if info.manifest else None,
        permissions=list(info.permissions),
        unknown_permissions=list(info.unknown_permissions),
        ignored_hooks=list(info.ignored_hooks),
        health=_health_out(host, info.id, recent=recent, shared=shared),
        breakers=_breakers_out(host, info.id),
    )


async def _one_plugin_out(host: PluginHost, info: PluginInfo) -> PluginOut:
    return _plugin_out(host, info, recent=50, shared=await _shared_failures(host, [info.id]))


def _info(host: PluginHost, plugin_id: str) -> PluginInfo:
    try:
        return host.plugin(plugin_id)
    except UnknownPluginError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/plugins", summary="List plugins with state, permissions and health")
async def list_plugins(host: Host) -> list[PluginOut]:
    plugins = host.plugins()
    shared = await _shared_failures(host, [info.id for info in plugins])
    return [_plugin_out(host, info, recent=5, shared=shared) for info in plugins]


@router.get(
    "/plugins/health",
    summary="Health of every plugin over the sliding window, here and (in a deployment) in every process",
)
async def plugins_health(host: Host) -> dict[str, HealthOut]:
    plugins = host.plugins()
    shared = await _shared_failures(host, [info.id for info in plugins])
    return {info.id: _health_out(host, info.id, recent=5, shared=shared) for info in plugins}


@router.get("/deployment", summary="The processes of the deployment, each one's view, and the shared plugin words")
async def deployment(host: Host) -> DeploymentOut:
    seen = await host.control.deployment()
    replicas = [
        ReplicaOut(
            replica=r.replica,
            plugins=r.plugins,
            failing={pid: FailingOut.model_validate(f, from_attributes=True) for pid, f in r.failing.items()},
            connected=r.connected,
            seen_at=r.seen_at,
            alive=r.alive,
        )
        for r in seen.replicas
    ]
    totals: dict[str, int] = {}
    for replica in replicas:
        for pid, failing in replica.failing.items() if replica.alive else ():
            totals[pid] = totals.get(pid, 0) + failing.window_failures
    return DeploymentOut(
        shared=seen.shared,
        replica=seen.replica,
        connected=seen.connected,
        last_error=seen.last_error,
        words={pid: SharedWordOut.model_validate(w, from_attributes=True) for pid, w in seen.words.items()},
        replicas=replicas,
        window_failures=dict(sorted(totals.items())),
    )


@router.get("/breakers", summary="Circuit breakers per (plugin, world) that are not plainly closed")
async def breakers(host: Host) -> list[BreakerOut]:
    return _breakers_out(host)


@router.get("/metrics", summary="Plugin call counts (successes by hook), failures and denials, as JSON")
async def metrics(host: Host) -> dict[str, Any]:
    calls = [PluginMetricsOut(plugin_id=p, hook=h, calls=n) for (p, h), n in host.call_counts().items()]
    failures = {i.id: {k.value: v for k, v in host.health.of(i.id).failures.items()} for i in host.plugins()}
    denials = {i.id: host.health.of(i.id).denials for i in host.plugins()}
    return {"calls": [c.model_dump() for c in calls], "failures": failures, "denials": denials}


@router.get("/plugins/{plugin_id}", responses=problems(404), summary="One plugin, with its recent failures")
async def get_plugin(plugin_id: PluginId, host: Host) -> PluginOut:
    return await _one_plugin_out(host, _info(host, plugin_id))


@router.post(
    "/plugins/{plugin_id}/enable",
    response_model=PluginOut,
    responses=problems(404, 409),
    summary="Enable a plugin globally",
)
async def enable_plugin(plugin_id: PluginId, host: Host) -> PluginOut | JSONResponse:
    _info(host, plugin_id)
    try:
        info = await host.enable(plugin_id)
    except PluginLoadError as exc:  # quarantined, and loading it again failed (or it cannot be loaded again)
        return problem_response(409, str(exc), type_=QUARANTINED, plugin=plugin_id)
    return await _one_plugin_out(host, info)


class PingOut(BaseModel):
    plugin_id: str
    alive: bool
    round_trip_ms: float | None = Field(default=None, description="When alive: host -> plugin -> host")
    error: str | None = Field(default=None, description="When not: why (it is restarting, gave up, timed out...)")


@router.post(
    "/plugins/{plugin_id}/ping",
    responses=problems(404, 409),
    summary="Ping an out-of-process plugin (one that does not answer in time is killed and restarted)",
)
async def ping_plugin(plugin_id: PluginId, host: Host) -> PingOut:
    _info(host, plugin_id)
    isolated = host.isolated(plugin_id)
    if isolated is None:
        raise HTTPException(409, f"plugin {plugin_id!r} runs in-process: there is no process to ping")
    try:
        seconds = await isolated.ping()
    except (PluginCrashed, ProtocolError, HookDeadlineExceeded) as exc:
        return PingOut(plugin_id=plugin_id, alive=False, error=str(exc))
    return PingOut(plugin_id=plugin_id, alive=True, round_trip_ms=seconds * 1000)


@router.post("/plugins/{plugin_id}/disable", responses=problems(404), summary="Disable a plugin globally")
async def disable_plugin(plugin_id: PluginId, host: Host) -> PluginOut:
    _info(host, plugin_id)
    return await _one_plugin_out(host, await host.disable(plugin_id))


@router.get("/worlds/{world_id}/plugins", responses=problems(404), summary="Which plugins a world enables")
async def world_plugins(world_id: IdPath, host: Host) -> WorldPluginsOut:
    return await _world_plugins(host, world_id)


@router.put(
    "/worlds/{world_id}/plugins/{plugin_id}",
    responses=problems(404, 422),
    summary="Enable or disable a plugin for one world (writes meta.behavior.enabledPlugins)",
)
async def set_world_plugin(world_id: IdPath, plugin_id: PluginId, body: Enablement, host: Host) -> WorldPluginsOut:
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
    check_world_meta(meta)  # the same check as a PATCH: a world whose behavior is invalid is fixed there first
    await host.storage.worlds.update_world(world_id, meta=meta)  # type: ignore[attr-defined]
    if body.enabled:
        host.breakers.reset(plugin_id, world_id)  # re-enabled by the operator: no waiting for the cooldown
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

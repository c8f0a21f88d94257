"""The FastAPI application factory of the reference game backend.

``create_app()`` builds an app whose lifespan opens the database, creates the schema, loads the plugin host on
the real store, mounts each plugin's routers in a sub-application of its own (admin routers behind the admin
token, checked on the host's side) and wires committed events to the plugins' event hooks. Plugin middleware is
kept off the admin API and the admin page, and neither it nor a plugin route ever sees the admin token or the
admin page's session cookie. The admin page's sessions live in ``app.state.admin_sessions``. Nothing is global, so
tests and servers can build as many apps as they like.
"""

from __future__ import annotations

import gc
import importlib.metadata
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI

from pixsim_hooks.backend._api import (
    API_PREFIX,
    OPENAPI_TAGS,
    api_router,
    install_problem_handlers,
    plugin_problem_handlers,
)
from pixsim_hooks.backend._api._admin import admin_guard
from pixsim_hooks.backend._api._admin_page import COOKIE as ADMIN_COOKIE
from pixsim_hooks.backend._api._admin_page import router as admin_page_router
from pixsim_hooks.backend._api._admin_sessions import session_store
from pixsim_hooks.backend._api._body_limit import BodyLimit
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._otel import sdk_setup
from pixsim_hooks.backend._services import GameService, Publish
from pixsim_hooks.backend._store import SqlStorage
from pixsim_hooks.backend.events import event_log, event_plugins, host_publisher
from pixsim_hooks.fastapi import PluginMiddleware, mount_plugin_routers
from pixsim_hooks.host import PluginHost, Settings, create_host

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["create_app", "lifespan"]

_log = structlog.get_logger("pixsim_hooks.backend")


def create_app(
    settings: Settings | None = None,
    *,
    publish: Publish | None = None,
    plugins: Iterable[object] = (),
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> FastAPI:
    """Build the backend app.

    ``plugins`` are registered explicitly and ``entry_points`` default to the installed ``pixsim_hooks.plugins``
    group (pass ``[]`` for none). ``publish`` replaces event delivery to the plugins (tests only). Explicit
    ``tracer_provider`` / ``meter_provider`` replace everything the OpenTelemetry settings would build, the
    Prometheus reader and ``/metrics`` included.
    """
    app = FastAPI(
        title="PixSim reference backend",
        version="0.1.0",
        summary="Worlds, NPCs, sessions and generations over the pixsim-hooks plugin host.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings if settings is not None else Settings()
    app.state.publish = publish
    registry = None
    if tracer_provider is None and meter_provider is None:
        setup = sdk_setup(app.state.settings)
        tracer_provider, meter_provider = setup.tracer_provider, setup.meter_provider
        registry = setup.prometheus_registry
    app.state.prometheus_registry = registry
    app.state.host_options = {
        "plugins": list(plugins),
        "entry_points": entry_points,
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
    }
    app.state.admin_sessions = session_store(app.state.settings.redis_url)  # shared by a deployment's processes
    app.state.event_log = None  # the lifespan opens the deployment's event log, with PIXSIM_REDIS_URL
    install_problem_handlers(app)
    # Plugin middleware never wraps the admin API or the admin page, and never sees the admin cookie.
    private = (f"{API_PREFIX}/admin", "/admin")
    app.add_middleware(PluginMiddleware, private_paths=private, credential_cookies=(ADMIN_COOKIE,))
    # Outermost of ours (added last): no plugin middleware or route reads more than the cap.
    app.add_middleware(BodyLimit, max_bytes=app.state.settings.max_body_bytes)
    app.include_router(api_router(), prefix=API_PREFIX)
    app.include_router(admin_page_router)  # the HTML admin page at /admin (outside the JSON API)
    if registry is not None:
        _mount_prometheus(app, registry)
    return app


def _mount_prometheus(app: FastAPI, registry: CollectorRegistry) -> None:
    # Imported here: prometheus_client comes with the optional extra, and an app without Prometheus must not need it.
    from pixsim_hooks.backend._api._prometheus import prometheus_router

    app.include_router(prometheus_router(registry))  # GET /metrics, at the root where Prometheus looks by default


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database, load the plugin host on it, build the service; shut both down at the end."""
    settings: Settings = app.state.settings
    engine = create_engine(settings.database_url)
    events = app.state.event_log = event_log(settings)
    try:
        await create_schema(engine)
        storage = SqlStorage(create_sessionmaker(engine), journal=events)
        host = await _start_host(app, settings, storage)
        if events is not None:  # before the first write: every event from here on waits for its plugins' workers
            await events.ensure_groups(event_plugins(host))  # Redis away: said, and the writes deliver inline
        publish = app.state.publish or host_publisher(host)
        app.state.engine, app.state.storage = engine, storage
        app.state.service = GameService(storage, publish)
        if settings.gc_freeze:
            # Start-up leaves a large heap (SQLAlchemy, pydantic, the plugins) that never becomes garbage; frozen,
            # the collector's full passes stop scanning it. Those passes otherwise cost tens of ms under load
            # (a tick that decides NPCs concurrently for an out-of-process plugin keeps thousands of frames alive).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await host.shutdown()
    finally:
        await engine.dispose()
        await app.state.admin_sessions.close()
        if events is not None:
            await events.close()


async def _start_host(app: FastAPI, settings: Settings, storage: SqlStorage) -> PluginHost:
    host = create_host(settings, storage=storage, **app.state.host_options)
    await host.load()
    for info in host.plugins():  # what an operator wants to see at start: which plugins run, and how
        shown = {"runs_as": host.runs_as(info.id)} if info.reason is None else {"reason": info.reason}
        _log.info("plugin " + info.state.value, plugin_id=info.id, **shown)
    app.state.host = host
    if not getattr(app.state, "plugin_routes_mounted", False):  # a second lifespan must not mount them twice
        mount_plugin_routers(
            app,
            host,
            admin_guard=admin_guard,
            exception_handlers=plugin_problem_handlers(),
            credential_cookies=(ADMIN_COOKIE,),
        )
        app.state.plugin_routes_mounted = True
    return host

"""The FastAPI application factory of the reference game backend.

``create_app()`` builds an app whose lifespan opens the database, creates the schema and puts the game
service on ``app.state``; nothing is global, so tests and servers can build as many apps as they like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pixsim_hooks._settings import Settings
from pixsim_hooks.backend._api import API_PREFIX, OPENAPI_TAGS, api_router, install_problem_handlers
from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
from pixsim_hooks.backend._services import GameService, Publish, drop_events
from pixsim_hooks.backend._store import SqlStorage

__all__ = ["create_app", "lifespan"]


def create_app(settings: Settings | None = None, *, publish: Publish | None = None) -> FastAPI:
    """Build the backend app. ``publish`` receives each typed event after its commit (default: dropped)."""
    app = FastAPI(
        title="PixSim reference backend",
        version="0.1.0",
        summary="Worlds, NPCs, sessions and generations over the pixsim-hooks plugin host.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings if settings is not None else Settings()
    app.state.publish = publish if publish is not None else drop_events
    install_problem_handlers(app)
    app.include_router(api_router(), prefix=API_PREFIX)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and build the service on ``app.state``; dispose of the engine on shutdown."""
    settings: Settings = app.state.settings
    engine = create_engine(settings.database_url)
    try:
        await create_schema(engine)
        storage = SqlStorage(create_sessionmaker(engine))
        app.state.engine, app.state.storage = engine, storage
        app.state.service = GameService(storage, app.state.publish)
        yield
    finally:
        await engine.dispose()

"""The reference PixSim game backend: models and store, game service, behavior engine, FastAPI app, CLI.

Build a server with :func:`create_app`; use :class:`SqlStorage` where the plugin host needs a ``Storage``.
It imports the other wings only through their public faces (``pixsim_hooks.host``, ``pixsim_hooks.fastapi``,
``pixsim_hooks.plugin``, ``pixsim_hooks.telemetry``), as any embedder would; nothing imports the backend.
"""

from __future__ import annotations

from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker, drop_schema
from pixsim_hooks.backend._models import Base, GameLocation, GameNPC, GameSession, GameWorld, Generation
from pixsim_hooks.backend._services import GameService, Publish, drop_events
from pixsim_hooks.backend._session_store import SessionWrite, SqlSessionStore, apply_session_change
from pixsim_hooks.backend._store import SqlGenerationStore, SqlNpcStore, SqlStorage, SqlWorldStore
from pixsim_hooks.backend.app import create_app

__all__ = [
    "Base",
    "GameLocation",
    "GameNPC",
    "GameService",
    "GameSession",
    "GameWorld",
    "Generation",
    "Publish",
    "SessionWrite",
    "SqlGenerationStore",
    "SqlNpcStore",
    "SqlSessionStore",
    "SqlStorage",
    "SqlWorldStore",
    "apply_session_change",
    "create_app",
    "create_engine",
    "create_schema",
    "create_sessionmaker",
    "drop_events",
    "drop_schema",
]

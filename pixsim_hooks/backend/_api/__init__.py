"""The ``/api/v1`` game API: one router assembled from the per-resource routers."""

from __future__ import annotations

from fastapi import APIRouter

from pixsim_hooks.backend._api import _admin, _admin_events, _generations, _locations, _npcs, _sessions, _tick, _worlds
from pixsim_hooks.backend._api._problems import (
    install_problem_handlers,
    plugin_problem_handlers,
    problem_response,
    problems,
)

__all__ = [
    "API_PREFIX",
    "OPENAPI_TAGS",
    "api_router",
    "install_problem_handlers",
    "plugin_problem_handlers",
    "problem_response",
]

API_PREFIX = "/api/v1"
OPENAPI_TAGS = [
    {"name": "worlds", "description": "Game worlds; ``meta.behavior`` holds the world's behavior config."},
    {"name": "locations", "description": "Places within a world."},
    {"name": "npcs", "description": "Non-player characters of a world."},
    {
        "name": "sessions",
        "description": "Play sessions: flags, relationships and world time, version-checked.",
    },
    {"name": "generations", "description": "Content generation requests."},
    {"name": "admin", "description": "Plugins, their health, per-world enablement, event delivery (admin token)."},
]


def api_router() -> APIRouter:
    """A fresh router with every game route, for mounting at :data:`API_PREFIX`."""
    router = APIRouter(responses=problems(422, 500))
    for module in (_worlds, _locations, _npcs, _sessions, _tick, _generations, _admin, _admin_events):
        router.include_router(module.router)
    return router

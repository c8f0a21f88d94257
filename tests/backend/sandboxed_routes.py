"""Route plugins run out of process (``ProcessPlugin("tests.backend.sandboxed_routes:<Name>")``, or served remotely);
``TrustedNotebook`` also in the host's process. Each route does one thing the tests look for from outside, over HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from pixsim_hooks import PluginContext, hookimpl
from pixsim_hooks.fastapi import get_plugin_context

BOOT = os.urandom(8).hex()  # one per child process: a restarted child answers another


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=100)


class Notebook:
    manifest = {
        "id": "notebook",
        "name": "Notebook",
        "version": "1.0.0",
        "isolation": "process",
        "permissions": ["routes:register", "admin:routes", "world:read", "session:read", "session:write"],
    }

    @hookimpl
    def provide_router(self, ctx: PluginContext) -> APIRouter:
        router = APIRouter()
        own, stealths = Depends(get_plugin_context("notebook")), Depends(get_plugin_context("stealth"))

        @router.get("/whoami")
        async def whoami(ctx: PluginContext = own) -> dict[str, Any]:
            return {"plugin": ctx.plugin_id, "boot": BOOT, "pid": os.getpid()}

        @router.get("/worlds/{world_id}/name")
        async def world_name(world_id: int, ctx: PluginContext = own) -> dict[str, Any]:
            world = await ctx.world.get_world(world_id)
            if world is None:
                raise HTTPException(404, f"no world {world_id}")
            return {"name": world.name}

        @router.post("/sessions/{session_id}/note", status_code=201)
        async def write_note(session_id: int, note: Note, ctx: PluginContext = own) -> dict[str, Any]:
            await ctx.session.set_flag(session_id, "note", note.text)
            return {"note": await ctx.session.get_flag(session_id, "note")}

        @router.api_route("/echo", methods=["GET", "PUT"])
        async def echo(request: Request) -> Response:
            body = await request.body()
            seen = {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": sorted(k for k in request.headers),
                "cookies": dict(request.cookies),
                "body_bytes": len(body),
            }
            response = Response(content=repr(seen).encode(), media_type="text/plain", status_code=203)
            response.headers["x-notebook"] = "seen"
            response.set_cookie("notebook", "1")
            return response

        @router.get("/generations/{generation_id}")
        async def generation(generation_id: int, ctx: PluginContext = own) -> dict[str, Any]:
            found = await ctx.generation.get(generation_id)  # generation:read was never asked for: denied
            return {"found": found is not None}

        @router.get("/someone-elses-context")
        async def other(ctx: PluginContext = stealths) -> dict[str, str]:
            return {"plugin": ctx.plugin_id}

        @router.get("/teapot")
        async def teapot() -> None:
            raise HTTPException(418, "short and stout", headers={"x-tea": "earl grey"})

        @router.get("/fails")
        async def fails() -> None:
            raise RuntimeError("the notebook's own bug")

        @router.get("/exits")
        async def exits() -> None:
            os._exit(3)

        @router.get("/hangs")
        async def hangs() -> None:
            await asyncio.sleep(3600)

        @router.get("/stream")
        async def stream() -> StreamingResponse:
            async def parts() -> AsyncIterator[bytes]:
                for part in (b"one,", b"two,", b"three"):
                    yield part

            return StreamingResponse(parts(), media_type="text/plain")

        return router

    @hookimpl
    def provide_admin_router(self, ctx: PluginContext) -> APIRouter:
        router = APIRouter()

        @router.get("/headers")
        async def headers(request: Request) -> dict[str, Any]:
            return {"headers": sorted(request.headers), "cookies": sorted(request.cookies)}

        return router


class TrustedNotebook(Notebook):
    """The same routes, vouched for by its author: the host may run it in its process too (every tier)."""

    manifest = {**Notebook.manifest, "trust": "first_party", "isolation": "in_process"}


class NotARouter:
    manifest = {
        "id": "not-a-router",
        "name": "Not a router",
        "version": "1.0.0",
        "isolation": "process",
        "permissions": ["routes:register"],
    }

    @hookimpl
    def provide_router(self, ctx: PluginContext) -> object:
        return {"routes": "/everything"}


class WithMiddleware:
    manifest = {
        "id": "with-middleware",
        "name": "With middleware",
        "version": "1.0.0",
        "isolation": "process",
        "permissions": ["middleware:http"],
    }

    @hookimpl
    def provide_middleware(self, ctx: PluginContext) -> Any:
        return lambda app: app

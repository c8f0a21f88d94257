"""Every error is one problem-JSON schema, documented on each operation that can answer it (plugin routes too); a 405
lists every method of its path; bodies over the cap are a 413; the core's own failures inside a plugin route are the
core's 500, never the plugin's 502."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text

from pixsim_hooks import PluginContext, PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.fastapi import IdPath, get_plugin_context
from pixsim_hooks.host import Settings

TOKEN = "contract-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = {"$ref": "#/components/schemas/Problem"}
LedgerCtx = Annotated[PluginContext, Depends(get_plugin_context("ledger"))]


class Ledger:
    """A route plugin with two methods on one path, and a read through its session capability."""

    manifest = PluginManifest(
        id="ledger",
        name="Ledger",
        version="1.0.0",
        trust="first_party",
        permissions=("routes:register", "session:read"),
    )

    @hookimpl
    def provide_router(self, ctx: PluginContext) -> APIRouter:
        router = APIRouter()

        async def read(session_id: IdPath, ctx: LedgerCtx) -> dict[str, Any]:
            session = await ctx.session.get_session(session_id)
            return {"found": session is not None}

        async def write(session_id: IdPath) -> dict[str, Any]:
            return {"written": session_id}

        router.add_api_route("/sessions/{session_id}", read, methods=["GET"])
        router.add_api_route("/sessions/{session_id}", write, methods=["PUT"])
        return router


class Locked:
    """Refused by the operator's allow list: quarantined, and enabling it cannot load it."""

    manifest = PluginManifest(id="locked", name="Locked", version="1.0.0", trust="first_party")


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(database_url=database_url, admin_token=TOKEN, plugins_allow=["ledger"], max_body_bytes=4096)
    app = create_app(settings, plugins=[Ledger(), Locked()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            yield app, client


async def test_a_body_that_is_not_utf8_is_a_400_problem_of_its_own_type(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = served
    response = await client.post("/worlds", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:pixsim:problem:bad-request"


async def test_the_admin_api_without_a_token_is_a_401_problem(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = served
    response = await client.get("/admin/plugins")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:pixsim:problem:unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_enabling_a_plugin_that_cannot_be_loaded_is_a_409_of_its_own_type(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = served
    response = await client.post("/admin/plugins/locked/enable", headers=ADMIN)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == "urn:pixsim:problem:plugin-quarantined"
    assert response.json()["plugin"] == "locked"
    stale = await client.patch("/sessions/1/flags", json={"k": 1}, headers={"If-Match": '"99"'})
    assert stale.json()["type"] in ("urn:pixsim:problem:not-found", "urn:pixsim:problem:stale-write")


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/worlds", "GET, POST"),
        ("/worlds/1", "DELETE, GET, PATCH"),
        ("/sessions/1", "DELETE, GET"),
        ("/plugins/ledger/sessions/1", "GET, PUT"),
    ],
)
async def test_a_405_lists_every_method_of_its_path_core_and_plugin_routes_alike(
    served: tuple[FastAPI, httpx.AsyncClient], path: str, methods: str
) -> None:
    _, client = served
    response = await client.request("OPTIONS", path)
    assert response.status_code == 405
    assert response.headers["Allow"] == methods
    assert response.json()["type"] == "urn:pixsim:problem:method-not-allowed"


async def test_a_body_over_the_cap_is_a_413_before_any_route_reads_it(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = served
    big = {"name": "W", "meta": {"filler": "x" * 5000}}
    response = await client.post("/worlds", json=big)
    assert response.status_code == 413
    assert response.json()["type"] == "urn:pixsim:problem:too-large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap still holds
        yield b'{"name": "W", "meta": {"filler": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    chunked = await client.post("/worlds", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert (await client.get("/worlds")).json() == []
    small = await client.post("/worlds", json={"name": "W", "meta": {"filler": "x" * 1000}})
    assert small.status_code == 201


async def test_a_chunked_body_within_the_cap_reaches_the_route_whole(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = served

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Chunked", '
        yield b'"meta": {"k": 1}}'

    response = await client.post("/worlds", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["meta"]) == ("Chunked", {"k": 1})


async def test_a_storage_failure_under_a_plugin_route_is_the_cores_500_and_not_the_plugins_failure(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = served
    assert (await client.get("/plugins/ledger/sessions/1")).json() == {"found": False}
    async with app.state.engine.begin() as connection:  # the core's database breaks under the plugin's read
        await connection.execute(text("DROP TABLE game_sessions"))
    response = await client.get("/plugins/ledger/sessions/1")
    assert response.status_code == 500
    assert response.json()["type"] == "urn:pixsim:problem:internal"
    assert "plugin" not in response.json()
    health = app.state.host.health.view("ledger")
    assert (health.failures, health.window_failures) == ({}, 0)


def _schema(app: FastAPI) -> dict[str, Any]:
    schema: dict[str, Any] = app.openapi()
    return schema


async def test_every_error_response_of_every_operation_is_the_one_problem_schema(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = served
    schema = _schema(app)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    seen = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    seen += 1
                    assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (
                        method,
                        path,
                        status,
                    )
            assert {"422", "500"} <= set(operation["responses"]), (method, path)
    assert seen > 100


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/api/v1/worlds", {"400", "413", "422", "500"}),
        ("get", "/api/v1/worlds/{world_id}", {"404", "422", "500"}),
        ("patch", "/api/v1/sessions/{session_id}/flags", {"400", "404", "409", "413", "422", "500"}),
        ("get", "/api/v1/admin/plugins", {"401", "404", "422", "500"}),
        ("post", "/api/v1/admin/plugins/{plugin_id}/enable", {"401", "404", "409", "422", "500"}),
        ("get", "/api/v1/plugins/ledger/sessions/{session_id}", {"403", "404", "422", "500", "502"}),
    ],
)
async def test_each_operation_documents_the_errors_it_can_answer(
    served: tuple[FastAPI, httpx.AsyncClient], method: str, path: str, statuses: set[str]
) -> None:
    app, _ = served
    responses = _schema(app)["paths"][path][method]["responses"]
    assert statuses <= {s for s in responses if s[0] in "45"}


async def test_if_match_is_documented_as_the_string_it_accepts(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, _ = served
    operation = _schema(app)["paths"]["/api/v1/sessions/{session_id}/flags"]["patch"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "if-match"
    assert header["schema"]["type"] == "string"
    assert "anyOf" not in header["schema"]  # no null to send: a header is left out instead
    assert header["schema"]["pattern"] == '^\\s*(\\*|(W/)?"[0-9]{1,16}"|[0-9]{1,16})\\s*$'


async def test_ids_are_documented_with_their_bounds(served: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, _ = served
    schema = _schema(app)
    (world_id,) = schema["paths"]["/api/v1/worlds/{world_id}"]["get"]["parameters"]
    assert (world_id["schema"]["minimum"], world_id["schema"]["maximum"]) == (1, 9007199254740991)
    body = schema["components"]["schemas"]["SessionCreate"]["properties"]["world_id"]
    assert (body["type"], body["minimum"], body["maximum"]) == ("integer", 1, 9007199254740991)
    seconds = schema["components"]["schemas"]["TickRequest"]["properties"]["seconds"]
    assert (seconds["exclusiveMinimum"], seconds["maximum"]) == (0, 1e9)


@pytest.mark.parametrize("plugin_id", ["process:some.module", "ledger@tests.other", "Not-A-Slug"])
async def test_the_admin_api_looks_up_any_id_shape_the_host_lists(
    served: tuple[FastAPI, httpx.AsyncClient], plugin_id: str
) -> None:
    # Plugins refused before their manifest was read are listed by entry point name, process target or id@source.
    _, client = served
    response = await client.get(f"/admin/plugins/{plugin_id}", headers=ADMIN)
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "urn:pixsim:problem:not-found"

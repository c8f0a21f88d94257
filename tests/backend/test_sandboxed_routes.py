"""A plugin in a sandboxed child serves routes: the host forwards each request under its prefix to the child, behind
the host's own gates, and answers what the child does as it answers an in-process route (issue 15).

The plugins are ``tests/backend/sandboxed_routes.py``, run by the backend app in children under bubblewrap; every
request goes through the app over httpx, as a client's would. Expected statuses, bodies and problem types are
written out here."""

from __future__ import annotations

import ast
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Outcome, PluginHost, PluginState, Settings
from pixsim_hooks.runtime import ProcessPlugin
from tests.runtime.sandboxed import restarted

pytestmark = pytest.mark.needs("bubblewrap")

TOKEN = "routes-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


def plugin(name: str) -> ProcessPlugin:
    return ProcessPlugin(f"tests.backend.sandboxed_routes:{name}")


async def served(database_url: str, *names: str) -> AsyncIterator[tuple[httpx.AsyncClient, PluginHost]]:
    settings = Settings(database_url=database_url, admin_token=TOKEN, hook_deadline_ms=3000)
    app: FastAPI = create_app(settings, plugins=[plugin(n) for n in names], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client,
    ):
        yield client, app.state.host


@pytest.fixture
async def notebook(database_url: str, no_leftover_processes: None) -> AsyncIterator[httpx.AsyncClient]:
    async for client, _ in served(database_url, "Notebook"):
        yield client


@pytest.fixture
async def notebook_host(database_url: str, no_leftover_processes: None) -> AsyncIterator[tuple[Any, PluginHost]]:
    async for pair in served(database_url, "Notebook"):
        yield pair


async def world(client: httpx.AsyncClient, enabled: list[str] | None) -> dict[str, Any]:
    behavior: dict[str, Any] = {"version": 2}
    if enabled is not None:
        behavior["enabledPlugins"] = enabled
    made = await client.post("/worlds", json={"name": "Harbor", "meta": {"behavior": behavior}})
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


async def test_a_route_answers_from_the_plugins_own_process_with_its_own_context(notebook: httpx.AsyncClient) -> None:
    answer = await notebook.get("/plugins/notebook/whoami")
    assert answer.status_code == 200
    assert answer.json()["plugin"] == "notebook"
    assert answer.json()["pid"] != os.getpid()  # answered from another process


async def test_a_world_scoped_route_reads_through_the_host_and_is_gated_by_the_worlds_plugins(
    notebook: httpx.AsyncClient,
) -> None:
    enabling, other = await world(notebook, ["notebook"]), await world(notebook, ["stealth"])
    answer = await notebook.get(f"/plugins/notebook/worlds/{enabling['id']}/name")
    assert (answer.status_code, answer.json()) == (200, {"name": "Harbor"})
    refused = await notebook.get(f"/plugins/notebook/worlds/{other['id']}/name")
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"world {other['id']} has not enabled plugin 'notebook'"  # the host's gate


async def test_a_write_through_a_sandboxed_route_lands_in_the_session_under_the_plugins_namespace(
    notebook: httpx.AsyncClient,
) -> None:
    made = await world(notebook, ["notebook"])
    session = (await notebook.post("/sessions", json={"world_id": made["id"]})).json()
    answer = await notebook.post(f"/plugins/notebook/sessions/{session['id']}/note", json={"text": "the tide"})
    assert (answer.status_code, answer.json()) == (201, {"note": "the tide"})
    stored = (await notebook.get(f"/sessions/{session['id']}")).json()
    assert stored["flags"]["plugin:notebook:note"] == "the tide"


async def test_a_body_the_route_refuses_is_the_clients_422_problem(notebook: httpx.AsyncClient) -> None:
    answer = await notebook.post("/plugins/notebook/sessions/1/note", json={"text": ""})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert [e["loc"] for e in answer.json()["errors"]] == [["body", "text"]]


async def test_the_request_reaches_the_child_without_credentials_and_its_response_comes_back_whole(
    notebook: httpx.AsyncClient,
) -> None:
    answer = await notebook.put(
        "/plugins/notebook/echo?tide=high",
        content=b"x" * 1000,
        headers={**ADMIN, "X-Trace": "t1", "Cookie": "pixsim_admin=stolen; theme=dark"},
    )
    assert answer.status_code == 203
    seen = ast.literal_eval(answer.text)
    assert seen["method"] == "PUT" and seen["path"] == "/echo" and seen["query"] == {"tide": "high"}
    assert seen["body_bytes"] == 1000
    assert "authorization" not in seen["headers"] and "x-trace" in seen["headers"]
    assert seen["cookies"] == {"theme": "dark"}  # the admin session cookie never reaches plugin code
    assert answer.headers["x-notebook"] == "seen"
    assert answer.cookies["notebook"] == "1"


async def test_a_streamed_response_is_forwarded_whole(notebook: httpx.AsyncClient) -> None:
    answer = await notebook.get("/plugins/notebook/stream")
    assert (answer.status_code, answer.text) == (200, "one,two,three")


async def test_a_capability_the_plugin_was_not_granted_is_a_403_problem_naming_the_permission(
    notebook_host: tuple[httpx.AsyncClient, PluginHost],
) -> None:
    client, host = notebook_host
    answer = await client.get("/plugins/notebook/generations/1")
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "urn:pixsim:problem:plugin-permission-denied"
    assert answer.json()["permission"] == "generation:submit"  # what ctx.generation.get needs
    health = host.health.view("notebook")
    assert health.denials == 1  # the one capability call, refused by the host's proxy
    assert [(r.where, r.outcome) for r in health.recent] == [
        ("generation.get", Outcome.DENIED),  # the capability call the child made, refused by the host
        ("route GET /api/v1/plugins/notebook/generations/1", Outcome.DENIED),  # the route it failed
    ]


async def test_asking_for_another_plugins_context_is_denied(notebook: httpx.AsyncClient) -> None:
    answer = await notebook.get("/plugins/notebook/someone-elses-context")
    assert answer.status_code == 403
    assert answer.json()["type"] == "urn:pixsim:problem:plugin-permission-denied"


async def test_an_http_error_the_route_raises_is_rendered_as_the_hosts_problem(notebook: httpx.AsyncClient) -> None:
    answer = await notebook.get("/plugins/notebook/teapot")
    assert answer.status_code == 418
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"] == "short and stout"
    assert answer.headers["x-tea"] == "earl grey"


async def test_unknown_paths_and_methods_are_answered_by_the_host_without_asking_the_child(
    notebook: httpx.AsyncClient,
) -> None:
    missing = await notebook.get("/plugins/notebook/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = await notebook.delete("/plugins/notebook/echo")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, PUT"


async def test_a_route_that_raises_is_the_plugins_502_and_the_core_keeps_serving(
    notebook_host: tuple[httpx.AsyncClient, PluginHost],
) -> None:
    client, _ = notebook_host
    answer = await client.get("/plugins/notebook/fails")
    assert answer.status_code == 502
    assert answer.json()["type"] == "urn:pixsim:problem:plugin-error"
    assert answer.json()["plugin"] == "notebook"
    assert "the notebook's own bug" not in answer.text  # the plugin's message stays in the logs
    assert (await client.get("/worlds")).status_code == 200
    assert (await client.get("/plugins/notebook/whoami")).status_code == 200  # the same child serves on


async def test_a_child_that_dies_in_a_route_is_a_502_and_is_restarted_to_serve_again(
    notebook_host: tuple[httpx.AsyncClient, PluginHost],
) -> None:
    client, host = notebook_host
    before = (await client.get("/plugins/notebook/whoami")).json()["boot"]
    answer = await client.get("/plugins/notebook/exits")
    assert answer.status_code == 502
    assert answer.json()["plugin"] == "notebook"
    assert (await client.get("/worlds")).status_code == 200
    assert await restarted(host, "notebook")
    again = await client.get("/plugins/notebook/whoami")
    assert again.status_code == 200 and again.json()["boot"] != before  # a new child, routes collected again


async def test_a_route_past_the_plugins_deadline_is_a_502_and_the_child_is_replaced(
    notebook_host: tuple[httpx.AsyncClient, PluginHost],
) -> None:
    client, host = notebook_host
    answer = await client.get("/plugins/notebook/hangs")
    assert answer.status_code == 502
    assert answer.json()["plugin"] == "notebook"
    assert host.plugin("notebook").state is PluginState.ENABLED
    assert await restarted(host, "notebook")
    assert (await client.get("/plugins/notebook/whoami")).status_code == 200


async def test_a_body_too_big_for_the_plugins_channel_is_the_clients_413(notebook: httpx.AsyncClient) -> None:
    # 900 KB passes the app's 1 MiB body limit; base64 in a message, it is over the channel's 1 MiB cap.
    answer = await notebook.put("/plugins/notebook/echo", content=b"x" * 900_000)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM
    assert (await notebook.get("/plugins/notebook/whoami")).status_code == 200  # nothing was sent: child fine


async def test_an_admin_route_is_behind_the_admin_guard_and_sees_no_credentials(notebook: httpx.AsyncClient) -> None:
    assert (await notebook.get("/admin/plugins/notebook/headers")).status_code == 401
    answer = await notebook.get("/admin/plugins/notebook/headers", headers={**ADMIN, "X-Trace": "t2"})
    assert answer.status_code == 200
    assert "authorization" not in answer.json()["headers"] and "x-trace" in answer.json()["headers"]


async def test_the_sandboxed_routes_are_listed_in_the_apps_schema(notebook: httpx.AsyncClient) -> None:
    paths = (await notebook.get("http://t/openapi.json")).json()["paths"]
    scoped = paths["/api/v1/plugins/notebook/worlds/{world_id}/name"]["get"]
    assert [p["name"] for p in scoped["parameters"] if p["in"] == "path"] == ["world_id"]
    assert set(paths["/api/v1/plugins/notebook/echo"]) == {"get", "put"}


async def test_a_router_that_is_not_an_apirouter_is_recorded_and_serves_nothing(
    database_url: str, no_leftover_processes: None
) -> None:
    async for client, host in served(database_url, "NotARouter"):
        assert (await client.get("/plugins/not-a-router/everything")).status_code == 404
        assert [r.where for r in host.health.view("not-a-router").recent] == ["provide_router"]
        assert (await client.get("/worlds")).status_code == 200


async def test_middleware_cannot_run_out_of_process_and_the_plugin_is_refused_at_load(
    database_url: str, no_leftover_processes: None
) -> None:
    async for client, host in served(database_url, "WithMiddleware"):
        (refused,) = host.plugins()
        assert refused.state is PluginState.QUARANTINED
        assert "provide_middleware" in (refused.reason or "") and "cannot run out of process" in (refused.reason or "")
        assert (await client.get("/worlds")).status_code == 200


async def test_a_sandboxed_route_failure_is_logged_with_the_traceback_from_the_plugins_own_process(
    notebook: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        assert (await notebook.get("/plugins/notebook/fails")).status_code == 502
    (line,) = [e for e in logs if e["event"] == "plugin call failed; fallback applied"]
    assert (line["log_level"], line["plugin_id"]) == ("error", "notebook")
    trace = line["traceback"]
    plugin_file = str(Path(__file__).with_name("sandboxed_routes.py"))
    assert f'File "{plugin_file}"' in trace and ", in fails" in trace  # the plugin's file, line and function
    assert 'raise RuntimeError("the notebook\'s own bug")' in trace
    assert "RuntimeError: the notebook's own bug" in trace
    # Then the host's side of it: what the host received, reported as the plugin's error.
    assert trace.index("RuntimeError: the notebook's own bug") < trace.index("reported to the host as")
    assert trace.endswith("RemotePluginError: RuntimeError: the notebook's own bug")

"""Several server processes over one database and one Redis are one deployment (issue 13): the operator's word on
a plugin and the admin sessions hold in all of them, whichever process was asked.

Real ``pixsim-hooks serve`` processes (each its own host, its own plugins), a real ``redis-server`` the test starts,
a SQLite file they all open, real HTTP. The reconcile period is an hour, so only the pub/sub message can carry a
word; waits are on the answers themselves, with generous bounds (how fast a word travels is a ``make bench``
figure)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.backend.deployment import Server, eventually

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the servers import tests.backend.deployment_plugins
TOKEN = "deployment-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
COOKIE = "pixsim_admin"


Start = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start(tmp_path: Path, redis_url: str, no_leftover_processes: None) -> AsyncIterator[Start]:
    """``await start(*args)``: a server process of the deployment, up and answering (one at a time: the first
    creates the database's schema)."""
    servers: list[Server] = []
    installed = tmp_path / "site"
    info = installed / "deployment_plugins-1.0.dist-info"  # installs tests/backend/deployment_plugins.py's Flaky
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: deployment-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pixsim_hooks.plugins]\nflaky = tests.backend.deployment_plugins:Flaky\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), str(ROOT)]),
        "PIXSIM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'deployment.sqlite3'}",
        "PIXSIM_REDIS_URL": redis_url,
        "PIXSIM_ADMIN_TOKEN": TOKEN,
        "PIXSIM_PLUGINS_ALLOW": "audit,stealth,flaky",  # in-process plugins: no sandbox needed here
        "PIXSIM_PLUGINS_TRUSTED": "audit,stealth,flaky",
        "PIXSIM_BREAKER_THRESHOLD": "2",
        "PIXSIM_BREAKER_COOLDOWN_S": "3600",
        "PIXSIM_CONTROL_RECONCILE_S": "3600",
        # Flaky fails in its event handler: delivered inline, that handler runs (and fails) in the server processes
        # whose breakers these tests are about. Streamed delivery: tests/backend/events/test_delivery.py.
        "PIXSIM_EVENTS_DELIVERY": "inline",
        "COLUMNS": "400",
    }

    async def start_one(*args: str, failing: bool = False) -> Server:
        command = [str(Path(sys.executable).parent / "pixsim-hooks"), "serve", "--port", "0", *args]
        own = {**env, "FLAKY_FAILS": "1" if failing else "0"}
        process = await asyncio.create_subprocess_exec(
            *command, env=own, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        assert process.stderr is not None
        base = ""
        async with asyncio.timeout(60):
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, "the server exited before it was up"
                if match := re.match(r"^Serving (http://127\.0\.0\.1:\d+/api/v1) ", line):
                    base = match.group(1)
                if "Application startup complete" in line:
                    break
        server = Server(process, base)
        servers.append(server)
        return server

    yield start_one
    for server in servers:
        await server.stop()


async def state_of(client: httpx.AsyncClient, server: Server, plugin_id: str) -> str:
    answer = await client.get(f"{server.base}/admin/plugins/{plugin_id}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["state"])


async def until_all(client: httpx.AsyncClient, servers: list[Server], plugin_id: str, wanted: str) -> bool:
    async def states() -> list[str]:
        return [await state_of(client, s, plugin_id) for s in servers]

    await eventually(states, lambda seen: seen == [wanted] * len(servers), f"{plugin_id} never {wanted} in all")
    return True


async def test_disabling_a_plugin_through_one_server_is_in_force_in_the_other_two(start: Start) -> None:
    a, b, c = [await start() for _ in range(3)]
    async with httpx.AsyncClient(timeout=10) as client:
        assert [await state_of(client, s, "audit") for s in (a, b, c)] == ["enabled"] * 3
        answer = await client.post(f"{a.base}/admin/plugins/audit/disable", headers=ADMIN)
        assert (answer.status_code, answer.json()["state"]) == (200, "disabled")
        assert await until_all(client, [b, c], "audit", "disabled")
        world = (await client.post(f"{b.base}/worlds", json={"name": "Harbor"})).json()
        session = (await client.post(f"{c.base}/sessions", json={"world_id": world["id"]})).json()
        assert "plugin:audit:trail" not in session["flags"]  # c's audit really is out of the dispatch
        await client.post(f"{c.base}/admin/plugins/audit/enable", headers=ADMIN)
        assert await until_all(client, [a, b], "audit", "enabled")
        deployment = (await client.get(f"{b.base}/admin/deployment", headers=ADMIN)).json()
        assert deployment["shared"] is True and deployment["connected"] is True
        assert len({r["replica"] for r in deployment["replicas"] if r["alive"]}) == 3
        assert deployment["words"]["audit"]["state"] == "enabled"


async def test_an_admin_session_opened_on_one_server_works_on_all_and_ends_on_all_when_revoked(start: Start) -> None:
    a, b, c = [await start() for _ in range(3)]
    async with httpx.AsyncClient(timeout=10) as client:
        login = await client.post(f"{a.origin}/admin/login", data={"token": TOKEN}, headers={"Origin": a.origin})
        assert login.status_code == 303
        cookie = {"Cookie": f"{COOKIE}={login.cookies[COOKIE]}"}
        for server in (a, b, c):
            page = await client.get(f"{server.origin}/admin", headers=cookie)
            assert 'id="plugin-table"' in page.text, server.origin  # the session opened on a, accepted here
        await client.post(f"{a.base}/admin/plugins/audit/disable", headers=ADMIN)
        assert await until_all(client, [b, c], "audit", "disabled")
        page = (await client.get(f"{b.origin}/admin", headers=cookie)).text  # the page shows the deployment
        assert 'id="deployment-table"' in page and page.count("data-replica=") == 3
        assert "deployment, last 60 s: 0" in page  # each plugin's window over the deployment
        assert page.count("audit: disabled") == 3 and "(this page)" in page
        logout = await client.post(f"{c.origin}/admin/logout", headers={**cookie, "Origin": c.origin})
        assert logout.status_code == 303
        for server in (a, b, c):
            page = await client.get(f"{server.origin}/admin", headers=cookie)
            assert 'action="/admin/login"' in page.text and 'id="plugin-table"' not in page.text, server.origin


async def test_two_workers_of_one_server_share_the_word(start: Start) -> None:
    server = await start("--workers", "2")
    async with httpx.AsyncClient(timeout=10) as client:

        async def deployment() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(f"{server.base}/admin/deployment", headers=ADMIN)).json()
            return answer

        def alive(seen: dict[str, Any]) -> set[str]:
            return {r["replica"] for r in seen["replicas"] if r["alive"]}

        await eventually(
            deployment, lambda seen: len(alive(seen)) == 2, "both workers report themselves when they join"
        )
        meta = {"behavior": {"version": 2, "enabledPlugins": ["stealth"]}}
        world = (await client.post(f"{server.base}/worlds", json={"name": "Harbor", "meta": meta})).json()
        status = f"{server.base}/plugins/stealth/worlds/{world['id']}/status"
        assert [(await client.get(status)).status_code for _ in range(6)] == [200] * 6  # served, by either worker
        await client.post(f"{server.base}/admin/plugins/stealth/disable", headers=ADMIN)

        def both_disabled(seen: dict[str, Any]) -> bool:
            return [r["plugins"].get("stealth") for r in seen["replicas"]] == ["disabled", "disabled"]

        await eventually(deployment, both_disabled, "a worker never applied the word")
        # Whichever worker answers, the plugin's routes are gone.
        assert [(await client.get(status)).status_code for _ in range(6)] == [404] * 6


async def open_breakers(client: httpx.AsyncClient, server: Server) -> list[tuple[str, int]]:
    answer = (await client.get(f"{server.base}/admin/breakers", headers=ADMIN)).json()
    return [(b["plugin_id"], b["world_id"]) for b in answer if b["state"] == "open"]


async def sessions_in(client: httpx.AsyncClient, server: Server, world_id: int, count: int = 2) -> None:
    """``count`` sessions created through ``server``: each one an on_session_created for flaky in that world."""
    for _ in range(count):
        made = await client.post(f"{server.base}/sessions", json={"world_id": world_id})
        assert made.status_code == 201, made.text  # the plugin's failure is never the request's


async def test_a_plugin_failing_on_two_of_three_servers_is_taken_out_of_that_world_on_all(start: Start) -> None:
    a, b = await start(failing=True), await start(failing=True)
    c = await start()
    async with httpx.AsyncClient(timeout=10) as client:
        world = (await client.post(f"{a.base}/worlds", json={"name": "Harbor"})).json()["id"]
        await sessions_in(client, a, world)
        await sessions_in(client, b, world)  # the second process's vote: the quorum of three
        await eventually(
            lambda: open_breakers(client, c), lambda seen: seen == [("flaky", world)], "c never opened the breaker"
        )
        health = (await client.get(f"{c.base}/admin/plugins/flaky", headers=ADMIN)).json()["health"]
        assert health["failures"] == {}  # c saw no failure of its own

        # Two failures in a, two in b: the deployment's window, as c shows it. b reports right after its vote, and c
        # may have counted the vote before that report: wait for it.
        async def deployment() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(f"{c.base}/admin/deployment", headers=ADMIN)).json()
            return answer

        seen = await eventually(deployment, lambda seen: seen["window_failures"] == {"flaky": 4}, "no shared window")
        failing = {r["replica"]: sorted(r["failing"]) for r in seen["replicas"]}
        assert sorted(failing.values()) == [[], ["flaky"], ["flaky"]]

        # The health endpoint of c, which saw none of them, shows the deployment's window: each failure, where.
        async def health() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(f"{c.base}/admin/plugins/health", headers=ADMIN)).json()
            return answer["flaky"]

        flaky = await eventually(health, lambda seen: seen["deployment"]["window_failures"] == 4, "no shared health")
        assert flaky["window_failures"] == 0  # c's own
        assert sorted(flaky["deployment"]["by_replica"].values()) == [2, 2]
        assert {f["replica"] for f in flaky["deployment"]["recent"]} == set(flaky["deployment"]["by_replica"])
        assert {f["where"] for f in flaky["deployment"]["recent"]} == {"on_session_created"}


async def test_one_server_alone_seeing_a_plugin_fail_opens_only_its_own_breaker(start: Start, redis_url: str) -> None:
    a = await start(failing=True)
    b, c = await start(), await start()
    votes = aioredis.from_url(redis_url, decode_responses=True)
    async with httpx.AsyncClient(timeout=10) as client:
        world = (await client.post(f"{a.base}/worlds", json={"name": "Harbor"})).json()["id"]
        await sessions_in(client, a, world)
        assert await open_breakers(client, a) == [("flaky", world)]
        voters = await eventually(lambda: votes.hkeys(f"pixsim:v1:breaker:flaky:{world}"), bool, "a never voted")
        assert len(voters) == 1  # a's vote is out, and only a's
        await votes.aclose()
        # A barrier: a word from a, waited for in b and c; the channel is ordered, so a's vote reached them first.
        await client.post(f"{a.base}/admin/plugins/audit/disable", headers=ADMIN)
        assert await until_all(client, [b, c], "audit", "disabled")
        assert await open_breakers(client, b) == await open_breakers(client, c) == []

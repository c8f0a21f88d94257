"""Durable event delivery in a deployment of real processes (issue 13): ``pixsim-hooks serve`` processes append each
write's events to Redis before the commit, ``pixsim-hooks worker`` processes deliver them.

- A worker killed (SIGKILL) while handling an event: another worker handles that event once more and every event
  after it once, in order; nothing is lost.
- A server killed right after a commit (the ``after_commit`` fault-injection point): the event is still delivered.
- A handler that always fails: dead-lettered after ``PIXSIM_EVENTS_MAX_ATTEMPTS`` deliveries, then re-driven from the
  admin API once the plugin is mended, and delivered.
- Four workers: every session's events are handled in version order, each once.

Real processes over one SQLite file and one real ``redis-server`` the test starts; the plugin
(``delivery_plugins.py`` here) appends a line per call to a file the test reads. Waits are bounded polls of that file
or of the admin API: the workers are other processes."""

from __future__ import annotations

import asyncio
import json
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

ROOT = Path(__file__).resolve().parents[3]  # the processes import tests.backend.events.delivery_plugins
TOKEN = "delivery-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BOUND_S = 30.0
PLUGIN = "journaling"


class Deployment:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.log = directory / "delivery.jsonl"
        self.fixed = directory / "fixed"
        self.processes: list[Server] = []

    async def _start(self, command: list[str], ready: str, env: dict[str, str]) -> Server:
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**self.env, **env},
            cwd=self.directory,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        base = ""
        async with asyncio.timeout(60):
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, f"{command[1]} exited before it was up"
                if match := re.match(r"^Serving (http://127\.0\.0\.1:\d+/api/v1) ", line):
                    base = match.group(1)
                if ready in line:
                    break
        started = Server(process, base)
        self.processes.append(started)
        return started

    async def server(self, **env: str) -> Server:
        command = [str(Path(sys.executable).parent / "pixsim-hooks"), "serve", "--port", "0"]
        return await self._start(command, "Application startup complete", env)

    async def worker(self, name: str, **env: str) -> Server:
        command = [str(Path(sys.executable).parent / "pixsim-hooks"), "worker", "--name", name]
        return await self._start(command, "event worker started", {"DELIVERY_WORKER": name, **env})

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    async def until_lines(self, holds: Callable[[list[dict[str, Any]]], bool], what: str) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            return self.lines()

        return await eventually(read, holds, what, bound_s=BOUND_S)


Start = Callable[[], Awaitable[Deployment]]


@pytest.fixture
async def deployment(tmp_path: Path, redis_url: str, no_leftover_processes: None) -> AsyncIterator[Deployment]:
    installed = tmp_path / "site"
    info = (
        installed / "delivery_plugins-1.0.dist-info"
    )  # installs tests/backend/events/delivery_plugins.py's Journaling
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: delivery-plugins\nVersion: 1.0\n")
    entry = f"[pixsim_hooks.plugins]\n{PLUGIN} = tests.backend.events.delivery_plugins:Journaling\n"
    (info / "entry_points.txt").write_text(entry)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), str(ROOT)]),
        "PIXSIM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'delivery.sqlite3'}",
        "PIXSIM_REDIS_URL": redis_url,
        "PIXSIM_ADMIN_TOKEN": TOKEN,
        "PIXSIM_PLUGINS_ALLOW": PLUGIN,
        "PIXSIM_PLUGINS_TRUSTED": PLUGIN,  # in-process: no sandbox needed here
        "PIXSIM_CONTROL_RECONCILE_S": "3600",
        "PIXSIM_HOOK_DEADLINE_MS": "600000",  # a handler that blocks is killed by the test, not cut by a deadline
        "PIXSIM_EVENTS_LEASE_S": "1",
        "PIXSIM_EVENTS_MAX_ATTEMPTS": "3",
        "PIXSIM_EVENTS_BACKOFF_S": "0.05",
        "PIXSIM_BREAKER_THRESHOLD": "1000",  # the poisoned event is retried, not kept out by a breaker
        "DELIVERY_LOG": str(tmp_path / "delivery.jsonl"),
        "DELIVERY_FIXED": str(tmp_path / "fixed"),
        "COLUMNS": "400",
    }
    found = Deployment(tmp_path, env)
    yield found
    for process in found.processes:
        await process.stop()


def by(lines: list[dict[str, Any]], what: str, **where: Any) -> list[tuple[str, int]]:
    """(worker, version) of the lines saying ``what``, in the order they were written."""
    return [
        (line["worker"], line["version"])
        for line in lines
        if line["what"] == what and all(line[k] == v for k, v in where.items())
    ]


async def test_a_worker_killed_while_handling_an_event_leaves_it_to_another_which_handles_it_once_more(
    deployment: Deployment,
) -> None:
    server = await deployment.server()
    stuck = await deployment.worker("stuck", DELIVERY_BLOCK="1")
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        world = (await client.post("/worlds", json={"name": "Harbor"})).json()
        session = (await client.post("/sessions", json={"world_id": world["id"]})).json()
        await deployment.until_lines(lambda seen: by(seen, "handed") == [("stuck", 1)], "stuck never got v1")
        for n in range(3):  # versions 2-4 wait behind version 1, in the same session's stream
            assert (await client.patch(f"/sessions/{session['id']}/flags", json={"n": n})).status_code == 200

    spare = await deployment.worker("spare")
    stuck.process.kill()  # SIGKILL: no chance to let go of anything
    await stuck.process.wait()

    lines = await deployment.until_lines(lambda seen: len(by(seen, "handled")) == 4, "spare never handled all four")
    assert by(lines, "handled") == [("spare", 1), ("spare", 2), ("spare", 3), ("spare", 4)]
    assert by(lines, "handed") == [("stuck", 1), ("spare", 1), ("spare", 2), ("spare", 3), ("spare", 4)]
    first = [line["event_id"] for line in lines if line["version"] == 1]
    assert len(first) == 3 and len(set(first)) == 1  # the same event, handed twice and handled once
    await spare.stop()
    assert by(deployment.lines(), "handled") == by(lines, "handled")  # and nothing more came after


async def test_a_server_killed_right_after_its_commit_still_has_the_event_delivered(deployment: Deployment) -> None:
    server = await deployment.server()
    doomed = await deployment.server(PIXSIM_FAILPOINT="after_commit")
    await deployment.worker("w1")
    async with httpx.AsyncClient(timeout=10) as client:
        world = (await client.post(f"{server.base}/worlds", json={"name": "Harbor"})).json()
        with pytest.raises(httpx.TransportError):  # it dies before it can answer
            await client.post(f"{doomed.base}/sessions", json={"world_id": world["id"]})
        assert await doomed.process.wait() == 86
        session = (await client.get(f"{server.base}/sessions/1")).json()  # the write did commit
        assert (session["world_id"], session["version"]) == (world["id"], 1)

    lines = await deployment.until_lines(lambda seen: bool(by(seen, "handled")), "the event was lost")
    assert [(line["type"], line["session"]) for line in lines if line["what"] == "handled"] == [("SessionCreated", 1)]


async def test_an_event_a_handler_always_fails_is_dead_lettered_then_redriven_from_the_admin_api(
    deployment: Deployment,
) -> None:
    server = await deployment.server()
    await deployment.worker("w1")
    async with httpx.AsyncClient(base_url=server.base, timeout=10, headers=ADMIN) as client:
        world = (await client.post("/worlds", json={"name": "Harbor"})).json()
        session = (await client.post("/sessions", json={"world_id": world["id"]})).json()
        await client.patch(f"/sessions/{session['id']}/flags", json={"poison": True})

        async def dead() -> list[dict[str, Any]]:
            answer: list[dict[str, Any]] = (await client.get(f"/admin/events/dead-letters/{PLUGIN}")).json()
            return answer

        [letter] = await eventually(dead, lambda seen: len(seen) == 1, "never dead-lettered", bound_s=BOUND_S)
        assert (letter["session_id"], letter["event_type"], letter["attempts"]) == (session["id"], "SessionUpdated", 3)
        assert "poisoned session" in letter["error"]
        assert by(deployment.lines(), "failed") == [("w1", 2)] * 3
        summary = (await client.get("/admin/events")).json()
        assert summary == {"delivery": "streams", "plugins": [{"plugin_id": PLUGIN, "dead_letters": 1}]}

        deployment.fixed.touch()  # the operator mends the plugin, then re-drives
        answer = await client.post(f"/admin/events/dead-letters/{PLUGIN}/{letter['entry_id']}/redrive")
        assert answer.status_code == 200 and answer.json()["event_id"] == letter["event_id"]

        lines = await deployment.until_lines(lambda seen: ("w1", 2) in by(seen, "handled"), "the redrive was lost")
        assert [line["event_id"] for line in lines if line["what"] == "handled" and line["version"] == 2] == [
            letter["event_id"]
        ]
        assert await dead() == []
        again = await client.post(f"/admin/events/dead-letters/{PLUGIN}/{letter['entry_id']}/redrive")
        assert again.status_code == 404


async def test_four_workers_handle_every_sessions_events_once_each_in_version_order(
    deployment: Deployment, redis_url: str
) -> None:
    server = await deployment.server()
    workers = [await deployment.worker(f"w{n}") for n in range(1, 5)]
    leases = aioredis.from_url(redis_url, decode_responses=True)
    try:

        async def holders() -> set[str]:
            keys = [key async for key in leases.scan_iter(match="pixsim:v1:events:lease:*")]
            return {value for value in await leases.mget(keys) if value} if keys else set()

        # 9 lanes (8 streams and the redrive stream), at most ceil(9 / 4) = 3 each: at least 3 workers hold some.
        await eventually(holders, lambda seen: len(seen) >= 3, "the workers never shared the lanes", bound_s=BOUND_S)
    finally:
        await leases.aclose()

    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        world = (await client.post("/worlds", json={"name": "Harbor"})).json()
        sessions = [(await client.post("/sessions", json={"world_id": world["id"]})).json()["id"] for _ in range(6)]

        async def writes(session_id: int) -> None:
            for n in range(10):
                assert (await client.patch(f"/sessions/{session_id}/flags", json={"n": n})).status_code == 200

        await asyncio.gather(*(writes(s) for s in sessions))

    lines = await deployment.until_lines(lambda seen: len(by(seen, "handled")) == 66, "not every event handled")
    for session_id in sessions:
        assert [v for _, v in by(lines, "handled", session=session_id)] == list(range(1, 12)), session_id
    assert len({line["event_id"] for line in lines}) == 66
    assert len(lines) == 2 * 66  # each handed once and handled once: no worker handled anything twice
    assert all(w.process.returncode is None for w in workers)


@pytest.mark.needs("bubblewrap")  # gossip runs in a sandboxed child of the worker
async def test_in_a_worker_the_contrib_plugins_write_through_their_own_capabilities_a_sandboxed_one_too(
    deployment: Deployment,
) -> None:
    plugins = {"PIXSIM_PLUGINS_ALLOW": f"{PLUGIN},gossip,audit", "PIXSIM_PLUGINS_TRUSTED": f"{PLUGIN},audit"}
    server = await deployment.server(**plugins)
    await deployment.worker("w1", **plugins)
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        world = (await client.post("/worlds", json={"name": "Harbor"})).json()
        npc = (await client.post(f"/worlds/{world['id']}/npcs", json={"name": "Alex"})).json()
        session = (await client.post("/sessions", json={"world_id": world["id"]})).json()
        talk = await client.post(
            f"/sessions/{session['id']}/interactions", json={"npc_id": npc["id"], "interaction": "talk"}
        )
        assert talk.status_code == 200
        assert "plugin:gossip:heard" not in talk.json()["session"]["flags"]  # nothing waits for the handlers now

        async def flags() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(f"/sessions/{session['id']}")).json()["flags"]
            return answer

        def written(seen: dict[str, Any]) -> bool:
            return "plugin:gossip:heard" in seen and len(seen.get("plugin:audit:audit_trail", [])) == 2

        seen = await eventually(flags, written, "the worker's plugins never wrote", bound_s=BOUND_S)
    assert seen["plugin:gossip:heard"] == {f"npc:{npc['id']}": 1}  # the sandboxed gossip, in its own namespace
    assert [entry["event"] for entry in seen["plugin:audit:audit_trail"]] == ["session_created", "interaction_executed"]
    # The plugins' own writes publish no event: the journaling plugin was handed the session's creation only.
    assert [(line["type"], line["what"]) for line in deployment.lines()] == [
        ("SessionCreated", "handed"),
        ("SessionCreated", "handled"),
    ]

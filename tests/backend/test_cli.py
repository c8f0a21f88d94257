"""The ``pixsim-hooks`` CLI, invoked as an operator would: seed-demo on a fresh database (twice), the installed
plugins as the server would load them, and clear failures for bad settings."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from pixsim_hooks.backend import SqlStorage, create_engine, create_sessionmaker
from pixsim_hooks.backend.cli import app

WIDE = {"COLUMNS": "240"}  # rich wraps tables to the terminal; keep each row on one line


async def invoke(*args: str, **env: str) -> Result:
    """Run the CLI in a worker thread: its commands call ``asyncio.run`` and this test's loop is running."""
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env={**WIDE, **env}))


@pytest.fixture
async def seeded_storage(database_url: str) -> AsyncIterator[SqlStorage]:
    """The store on the database ``seed-demo`` was pointed at (open it only after the CLI created the schema)."""
    engine = create_engine(database_url)
    yield SqlStorage(create_sessionmaker(engine))
    await engine.dispose()


def row_of(output: str, plugin_id: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {plugin_id} "))


# -- seed-demo ------------------------------------------------------------------------------------------------------
async def test_seed_demo_creates_the_demo_world_on_a_fresh_database(
    database_url: str, seeded_storage: SqlStorage
) -> None:
    result = await invoke("seed-demo", PIXSIM_DATABASE_URL=database_url)
    assert result.exit_code == 0, result.output
    assert "Seeded 'Demo Harbor'" in result.output
    (world,) = await seeded_storage.worlds.list_worlds()
    assert world.name == "Demo Harbor"
    assert list(world.meta["behavior"]["enabledPlugins"]) == ["stealth", "audit", "gossip"]
    assert len(await seeded_storage.worlds.list_locations(world.id)) == 3
    npcs = await seeded_storage.npcs.list_npcs(world.id)
    assert len(npcs) == 4 and all(npc.meta["behavior"]["preferences"] for npc in npcs)
    session = await seeded_storage.sessions.get_session(1)
    assert session is not None and session.world_id == world.id


async def test_seed_demo_a_second_time_says_so_and_changes_nothing(
    database_url: str, seeded_storage: SqlStorage
) -> None:
    first = await invoke("seed-demo", PIXSIM_DATABASE_URL=database_url)
    second = await invoke("seed-demo", PIXSIM_DATABASE_URL=database_url)
    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    assert "already exists" in second.output
    (world,) = await seeded_storage.worlds.list_worlds()
    assert len(await seeded_storage.npcs.list_npcs(world.id)) == 4
    assert await seeded_storage.sessions.get_session(2) is None


async def test_the_demo_world_references_only_what_it_defines(database_url: str, seeded_storage: SqlStorage) -> None:
    assert (await invoke("seed-demo", PIXSIM_DATABASE_URL=database_url)).exit_code == 0
    (world,) = await seeded_storage.worlds.list_worlds()
    behavior = world.meta["behavior"]
    assert behavior["version"] == 2
    categories = {category["id"] for category in behavior["activityCategories"]}
    activities = {activity["id"] for activity in behavior["activities"]}
    assert {activity["category"] for activity in behavior["activities"]} <= categories
    (routine,) = behavior["routines"]
    node_ids = {node["id"] for node in routine["nodes"]}
    preferred = {p["activityId"] for node in routine["nodes"] for p in node.get("preferredActivities", ())}
    assert preferred <= activities
    assert {e["fromNodeId"] for e in routine["edges"]} | {e["toNodeId"] for e in routine["edges"]} <= node_ids
    for npc in await seeded_storage.npcs.list_npcs(world.id):
        assert npc.meta["behavior"]["routineId"] == routine["id"]
        assert set(npc.meta["behavior"]["preferences"]["activityWeights"]) <= activities


async def test_seed_demo_refuses_an_in_memory_database_with_exit_2() -> None:
    result = await invoke("seed-demo", PIXSIM_DATABASE_URL="sqlite+aiosqlite:///:memory:")
    assert result.exit_code == 2
    assert "PIXSIM_DATABASE_URL" in result.output and "in-memory SQLite" in result.output


async def test_seed_demo_into_a_missing_directory_exits_1_naming_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'game.sqlite3'}"
    result = await invoke("seed-demo", PIXSIM_DATABASE_URL=url)
    assert result.exit_code == 1
    assert "does not exist" in result.output and "missing-dir" in result.output
    assert "Traceback" not in result.output


async def test_seed_demo_on_an_unreachable_server_exits_1_with_the_drivers_cause() -> None:
    result = await invoke("seed-demo", PIXSIM_DATABASE_URL="postgresql://pixsim:hunter2@127.0.0.1:1/pixsim")
    assert result.exit_code == 1
    assert "cannot use the database" in result.output and "127.0.0.1:1" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


# -- plugins --------------------------------------------------------------------------------------------------------
# The installed plugins include gossip, a sandboxed child (the isolated entry-point group): loading all of them needs
# bubblewrap. With an allow list that leaves gossip out, it is refused before it is started.
@pytest.mark.needs("bubblewrap")
async def test_plugins_list_shows_the_installed_contrib_plugins_enabled() -> None:
    result = await invoke("plugins", "list")
    assert result.exit_code == 0, result.output
    stealth, audit = row_of(result.stdout, "stealth"), row_of(result.stdout, "audit")
    assert "route" in stealth and "first_party" in stealth and "enabled" in stealth
    assert "routes:register" in stealth
    assert "event" in audit and "enabled" in audit and "event:subscribe" in audit


async def test_plugins_list_shows_a_plugin_outside_the_allow_list_quarantined_with_the_reason() -> None:
    result = await invoke("plugins", "list", PIXSIM_PLUGINS_ALLOW="audit")
    assert result.exit_code == 0
    stealth = row_of(result.stdout, "stealth")
    assert "quarantined" in stealth and "not in PIXSIM_PLUGINS_ALLOW" in stealth
    assert "enabled" in row_of(result.stdout, "audit")


@pytest.mark.needs("bubblewrap")
async def test_plugins_check_passes_when_every_plugin_loads() -> None:
    result = await invoke("plugins", "check")
    assert result.exit_code == 0, result.output
    assert "load cleanly" in result.output


def _install(root: Path, **entry_points: str) -> None:
    """A distribution on ``root`` whose ``pixsim_hooks.plugins`` group lists ``entry_points`` (name → target)."""
    info = root / "cli_mistakes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cli-mistakes\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[pixsim_hooks.plugins]\n{lines}")


@pytest.fixture
def mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    names = {"typo": "Typo", "unpermitted": "Unpermitted", "bracketed": "Bracketed", "clean": "Clean"}
    _install(tmp_path, **{name: f"tests.backend.cli_plugins:{cls}" for name, cls in names.items()})
    monkeypatch.syspath_prepend(str(tmp_path))
    chosen = ",".join(names)
    return {"PIXSIM_PLUGINS_ALLOW": chosen, "PIXSIM_PLUGINS_TRUSTED": chosen}


async def test_plugins_check_fails_on_an_unknown_permission_saying_which_one_was_meant(
    mistakes: dict[str, str],
) -> None:
    result = await invoke("plugins", "check", **mistakes)
    assert result.exit_code == 1, result.output
    assert "error typo: asks for the unknown permission 'sesion:read', which grants nothing (did you mean" in (
        result.output
    )
    assert "'session:read'?)" in result.output


async def test_plugins_check_fails_on_a_hook_implemented_without_its_permission(mistakes: dict[str, str]) -> None:
    result = await invoke("plugins", "check", **mistakes)
    assert "error unpermitted: implements 'on_session_created' without the permission it needs" in result.output
    assert " clean: " not in result.output  # a plugin without a mistake has nothing said against it


async def test_plugins_check_and_list_print_bracketed_text_as_it_is(mistakes: dict[str, str]) -> None:
    checked = await invoke("plugins", "check", **mistakes)
    assert "^[a-z][a-z0-9_-]{1,62}$" in checked.output  # Rich markup would have eaten the brackets
    listed = await invoke("plugins", "list", **{**mistakes, "COLUMNS": "400"})
    assert "^[a-z][a-z0-9_-]{1,62}$" in listed.output


@pytest.mark.needs("bubblewrap")
async def test_plugins_check_fails_on_an_untrusted_plugin_that_asks_for_the_hosts_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, wanderer="tests.backend.cli_plugins:Wanderer")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = await invoke("plugins", "check", PIXSIM_PLUGINS_ALLOW="wanderer")
    assert result.exit_code == 1, result.output
    assert "error wanderer: asks to run in the host's process but runs as process (bubblewrap)" in result.output
    assert "declare isolation 'process'" in result.output
    trusted = await invoke("plugins", "check", PIXSIM_PLUGINS_ALLOW="wanderer", PIXSIM_PLUGINS_TRUSTED="wanderer")
    assert trusted.exit_code == 1  # vouched for, it is still a community plugin: never run in-process
    assert "quarantined wanderer: community plugins are never run in-process" in trusted.output


@pytest.mark.needs("bubblewrap")
async def test_plugins_check_fails_on_a_sandboxed_plugin_with_middleware_which_needs_the_hosts_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, wrapper="tests.backend.cli_plugins:Wrapper")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = await invoke("plugins", "check", PIXSIM_PLUGINS_ALLOW="wrapper", COLUMNS="400")
    assert result.exit_code == 1, result.output
    # Its manifest never reached the host (the child's welcome was refused): it is named by what was started.
    assert "quarantined process:tests.backend.cli_plugins:Wrapper:" in result.output
    assert "hooks ['provide_middleware'] cannot run out of process" in result.output


async def test_plugins_check_exits_1_naming_each_quarantined_plugin_and_why() -> None:
    result = await invoke("plugins", "check", PIXSIM_PLUGINS_DENY="stealth")
    assert result.exit_code == 1
    assert "quarantined stealth: denied by PIXSIM_PLUGINS_DENY" in result.output
    assert "audit:" not in result.output


# -- settings and invocation ----------------------------------------------------------------------------------------
async def test_a_bad_setting_exits_2_naming_the_variable() -> None:
    result = await invoke("plugins", "list", PIXSIM_HOOK_DEADLINE_MS="-5")
    assert result.exit_code == 2
    assert "PIXSIM_HOOK_DEADLINE_MS" in result.output and "Traceback" not in result.output


async def test_serve_refuses_several_workers_without_redis_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "never.sqlite3"
    result = await invoke("serve", "--workers", "2", PIXSIM_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert result.exit_code == 1, result.output
    assert "--workers needs PIXSIM_REDIS_URL" in result.output and "Traceback" not in result.output
    assert not database.exists()  # refused before anything was opened


async def test_worker_refuses_to_start_without_redis_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "never.sqlite3"
    result = await invoke("worker", PIXSIM_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert result.exit_code == 2, result.output
    assert "worker needs PIXSIM_REDIS_URL" in result.output and "Traceback" not in result.output
    assert not database.exists()


async def test_worker_refuses_to_start_when_the_servers_deliver_their_own_events() -> None:
    result = await invoke("worker", PIXSIM_REDIS_URL="redis://127.0.0.1:1/0", PIXSIM_EVENTS_DELIVERY="inline")
    assert result.exit_code == 1, result.output
    assert "PIXSIM_EVENTS_DELIVERY=inline" in result.output and "Traceback" not in result.output


async def test_streamed_events_without_redis_is_a_bad_setting_naming_the_variable() -> None:
    result = await invoke("plugins", "list", PIXSIM_EVENTS_DELIVERY="streams")
    assert result.exit_code == 2
    assert "PIXSIM_EVENTS_DELIVERY" in result.output and "PIXSIM_REDIS_URL" in result.output


async def test_serve_refuses_a_port_out_of_range_before_starting() -> None:
    result = await invoke("serve", "--port", "70000")
    assert result.exit_code == 2
    assert "--port" in result.output and "65535" in result.output


async def test_serve_on_a_port_in_use_fails_at_once_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    database = tmp_path / "never.sqlite3"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = await invoke("serve", "--port", str(port), PIXSIM_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert result.exit_code == 1
    assert (
        result.output
        == f"error: port {port} on 127.0.0.1 is already in use; pick another with --port (make run PORT=...)\n"
    )
    assert not database.exists()  # the database was not even opened, let alone plugins started


@pytest.mark.needs("bubblewrap")
async def test_serve_demo_seeds_the_world_and_serves_gossip_sandboxed_counting_an_interaction(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    """What `make run` does, as a real server process: the demo world, then the backend with every installed
    plugin; an interaction is counted by gossip, which runs in a sandboxed child."""
    env = {**os.environ, "PIXSIM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}", **WIDE}
    command = [str(Path(sys.executable).parent / "pixsim-hooks"), "serve", "--demo", "--port", "0"]
    server = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        base = await _line_matching(server.stderr, r"^Serving (http://127\.0\.0\.1:\d+/api/v1) ")
        started = await _line_matching(
            server.stderr, r"(plugin enabled.*plugin_id=gossip.*)|(Application startup complete)"
        )
        assert "process (bubblewrap)" in started, started  # gossip's line comes before the startup's end
        await _line_matching(server.stderr, r"Application startup complete")
        seeded = (await server.stdout.read(4096)).decode()  # type: ignore[union-attr]
        assert "Seeded 'Demo Harbor'" in seeded and f"curl -X POST {base}/sessions/1/interactions" in seeded
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            talked = await client.post("/sessions/1/interactions", json={"npc_id": 1, "interaction": "talk"})
            assert talked.status_code == 200, talked.text
            session = (await client.get("/sessions/1")).json()
        assert session["flags"]["plugin:gossip:heard"] == {"npc:1": 1}
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)  # as Ctrl-C in `make run`: the host shuts its plugins down
            await asyncio.wait_for(server.wait(), timeout=30)
    rest = (await server.stderr.read()).decode()  # type: ignore[union-attr]
    # A clean stop: the lifespan ran to its end (the host stopped gossip's process; no_leftover_processes checks
    # that none is left). The exit status is uvicorn's: it re-raises the signal, which is 130 where SIGINT has its
    # default action and 0 where the caller's environment ignores SIGINT (a background job of a script).
    assert "Application shutdown complete" in rest and "Traceback" not in rest
    assert server.returncode in (0, 128 + signal.SIGINT), rest
    # and the fixture checks that the server left no process behind (gossip's sandbox went with it)


async def _line_matching(stream: asyncio.StreamReader | None, pattern: str, limit: float = 60.0) -> str:
    """The first line of ``stream`` that matches ``pattern`` (its first group, when it has one)."""
    assert stream is not None
    async with asyncio.timeout(limit):
        while line := (await stream.readline()).decode():
            found = re.search(pattern, line)
            if found:
                return found.group(1) if found.re.groups == 1 else line
    raise AssertionError(f"the server exited before printing a line matching {pattern!r}")


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["seed-demo"], ["plugins"], ["plugins", "list"], ["plugins", "check"]]
)
async def test_every_command_explains_itself_with_help(command: list[str]) -> None:
    result = await invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output

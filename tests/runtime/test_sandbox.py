"""Out-of-process plugins under attack (red-team items 11-18, 23, 24, 27): real malicious plugins in real child
processes. Each test asserts the outcome — killed in time, nothing applied, the failure recorded against the plugin,
the host's event loop responsive throughout (its lag is measured while the attack runs) — and the fixture asserts
that no process the test started (a plugin's child, anything that child started) is left afterwards.

Timing bounds here are generous, for a loaded 2-core machine; they still fail a host that waits for a runaway plugin
or blocks its loop on one. The exact figures are ``make bench`` rows (``bench/bench_sandbox.py``)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pixsim_hooks import NpcSnapshot, NpcView, ProcessRuntime, SessionSnapshot
from pixsim_hooks.host import ISOLATED_ENTRY_POINT_GROUP, PluginState, Settings, create_host
from pixsim_hooks.plugin import ExtensionKind
from pixsim_hooks.runtime import ProcessPlugin, SandboxKind, State
from pixsim_hooks.runtime._sandbox import sweep_workdirs
from tests import processes
from tests.runtime.hostile_plugins import BAD_FRAMES, outside_targets
from tests.runtime.sandboxed import (
    DEADLINE_MS,
    MAX_LAG_S,
    MAX_TOOK_S,
    Run,
    attack,
    child,
    dies,
    failures,
    restarted,
    rss_bytes,
    running,
)

NOBODY_UID = 65534  # README: a root host runs its plugin children as uid 65534 (nobody)


def expected_child_uid() -> int:
    """README: a root host drops its plugin children to uid 65534; any other host's children keep its own uid."""
    return NOBODY_UID if os.geteuid() == 0 else os.geteuid()


def plugin_interpreter(sandbox: psutil.Process) -> psutil.Process:
    """The interpreter running the plugin: ``sandbox`` itself or one of its descendants (under bwrap, unshare)."""
    [found] = [
        proc
        for proc in (sandbox, *processes.live_descendants(sandbox.pid))
        if proc.cmdline()[1:4] == ["-I", "-m", "pixsim_hooks.runtime._child"]
    ]
    return found


# -- the sandbox a well-behaved plugin gets ------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_plugin_runs_in_its_own_process_as_nobody_in_its_own_working_directory(run: Run) -> None:
    host = await run("Polite")
    assert host.plugin("polite").state is PluginState.ENABLED
    [answer] = await host.hook.provide_simulation_defaults(world_id=1)
    assert answer["pid"] != os.getpid()
    assert Path(answer["cwd"]).name.startswith("pixsim-plugin-")
    assert answer["uid"] == expected_child_uid()


@pytest.mark.needs("bubblewrap")
async def test_a_community_plugin_is_accepted_only_because_it_runs_out_of_process(run: Run) -> None:
    host = await run("Polite")  # trust: community, isolation: process
    assert host.plugin("polite").manifest.trust == "community"  # type: ignore[union-attr]
    assert host.plugin("polite").state is PluginState.ENABLED


# -- 11, 12, 17: runaway code is killed at the deadline -----------------------------------------------------------
@pytest.mark.needs("bubblewrap")
@pytest.mark.parametrize(
    ("name", "plugin_id"), [("Spinner", "spinner"), ("Stubborn", "stubborn"), ("Sleeper", "sleeper")]
)
async def test_a_runaway_hook_is_killed_at_the_deadline_without_stalling_the_host(
    run: Run, name: str, plugin_id: str
) -> None:
    host = await run(name)
    sandbox = child(host, plugin_id)
    results, took, lag = await attack(host)
    assert results == []  # the fallback: nothing offered
    assert took < MAX_TOOK_S
    assert lag < MAX_LAG_S
    assert failures(host, plugin_id) == {"timeout": 1}
    assert await dies(sandbox)


# -- 11 without a deadline: the CPU rlimit -----------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_plugin_past_its_cpu_seconds_is_killed_by_the_kernel_and_recorded_as_a_crash(run: Run) -> None:
    """The deadline is 30 s; the child may use 1 CPU second (``ProcessRuntime.cpu_seconds``, RLIMIT_CPU). The
    soft and hard limits are equal, so at that second the kernel sends SIGKILL (SIGXCPU comes only at a soft limit
    below the hard one), and bubblewrap reports a child killed by signal n as exit code 128 + n, as a shell does."""
    host = await run("Spinner", runtime=ProcessRuntime(cpu_seconds=1), hook_deadline_ms=30_000)
    sandbox = child(host, "spinner")
    results, took, _ = await attack(host)
    assert results == []
    assert took < 15  # 1 CPU second, however loaded the machine, and never the 30 s deadline
    assert failures(host, "spinner") == {"error": 1}  # a crash, not a timeout
    record = host.health.view("spinner").recent[-1]
    assert record.exc_type == "PluginCrashed"
    assert f"its process closed the channel (exit code {128 + signal.SIGKILL})" in record.message
    assert await dies(sandbox)


# -- 11, 12: a child that hangs up and spins -----------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_child_that_closes_its_channel_and_spins_is_killed_and_the_call_ends_on_time(run: Run) -> None:
    host = await run("Hangup")
    sandbox = child(host, "hangup")
    results, took, lag = await attack(host)
    assert results == []
    assert took < MAX_TOOK_S and lag < MAX_LAG_S
    # One failure: a crash if the child's exit is seen before the deadline, else the deadline itself (this child
    # never exits on its own: the host waits for its exit code no longer than the call's deadline).
    assert sum(failures(host, "hangup").values()) == 1
    assert host.health.view("hangup").recent[-1].exc_type in ("PluginCrashed", "HookDeadlineExceeded")
    assert await dies(sandbox)


# -- the manifest's own limits -------------------------------------------------------------------------------------
MiB = 1 << 20


@pytest.mark.needs("bubblewrap")
async def test_a_plugin_runs_under_the_lower_limits_its_manifest_asks_for(run: Run) -> None:
    """The manifest is read from the child's welcome; the plugin then runs in a child started under what it asked
    (256 MiB, 32 files, 600 CPU seconds) rather than the defaults (512 MiB, 64 files, 3600 s)."""
    host = await run("Modest")
    results, _, _ = await attack(host)
    assert results == [{"memory": 256 * MiB, "files": 32, "cpu": 600}]


@pytest.mark.needs("bubblewrap")
async def test_a_plugin_cannot_raise_its_own_limits_above_the_defaults(run: Run) -> None:
    host = await run("Greedy")
    results, _, _ = await attack(host)
    assert results == [{"memory": 512 * MiB, "files": 64, "cpu": 3600}]


@pytest.mark.needs("bubblewrap")
async def test_the_operators_limits_are_used_as_given(run: Run) -> None:
    host = await run("Greedy", runtime=ProcessRuntime(memory_mb=1024, open_files=128))
    results, _, _ = await attack(host)
    assert results == [{"memory": 1024 * MiB, "files": 128, "cpu": 3600}]


# -- 13: memory --------------------------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_allocating_8_gib_fails_in_the_child_and_leaves_host_memory_alone(run: Run) -> None:
    host = await run("Hog")
    before = rss_bytes()
    results, _, lag = await attack(host)
    assert results == []
    assert rss_bytes() - before < 50 << 20
    assert lag < MAX_LAG_S
    [record] = host.health.view("hog").recent
    assert "MemoryError" in record.message


# -- 14: processes and sockets -----------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_forks_detached_children_and_sockets_are_contained_and_nothing_outlives_the_plugin(run: Run) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        host = await run("Breeder", hook_deadline_ms=3000)
        [found] = await host.hook.provide_simulation_defaults(world_id=port)
    finally:
        listener.close()
    assert found["detached"] is True  # a grandchild in a session of its own is running: it must not outlive us
    if os.geteuid() == 0:  # the child runs as uid 65534, where RLIMIT_NPROC (32 processes) binds: the bomb stops
        assert found["fork_refused"] == "Resource temporarily unavailable"
        assert found["forks"] < 32
    else:  # no per-uid limit for a non-root host (it would count the host user's own processes): the PID namespace
        assert "fork_refused" not in found and found["forks"] == 200  # holds the whole bomb, and it dies with it
    assert found["host_port"].startswith("refused")  # no network at all: not even the host's loopback
    assert found["internet"].startswith("refused")
    # the fixture asserts that no child, and no `sleep` it started, is left once the host shuts down


# -- 15: files -------------------------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_file_limits_hold_and_nothing_is_written_outside_the_working_directory(run: Run) -> None:
    host = await run("Hoarder", hook_deadline_ms=5000)
    [found] = await host.hook.provide_simulation_defaults(world_id=1)
    assert (found["open_error"], found["open_refused_after"] < 64) == ("Too many open files", True)
    assert (found["huge_refused"], found["huge_size"]) == ("File too large", 16 << 20)  # the manifest default
    assert [t for t in outside_targets() if os.path.exists(t)] == []  # noqa: ASYNC240 - a test's own check


# -- 16: secrets ---------------------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_the_child_sees_no_host_environment_descriptors_or_sources(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIM_ADMIN_TOKEN", "s3cret-admin-token")
    host = await run("Snoop")
    [found] = await host.hook.provide_simulation_defaults(world_id=1)
    assert set(found["env"]) <= {"PATH", "LANG", "HOME", "PWD", "PYTHONDONTWRITEBYTECODE"}
    assert "s3cret-admin-token" not in repr(found)
    for fd, target in found["fds"].items():  # only its own: /dev/null, its log, sockets, its event loop's epoll
        own = target in ("/dev/null", f"{found['cwd']}/plugin.log") or target.startswith(("socket:", "anon_inode:"))
        assert own, f"fd {fd} -> {target}"
    assert found["readable"] == {}  # not the repository, not /etc
    assert found["other_environs"] == {}  # its PID namespace holds no process but its own


# -- 18, 23, 24, 27: the channel -------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_100_mb_flood_is_cut_at_the_frame_header_and_the_child_killed(run: Run) -> None:
    """The flooder announces a 100 MiB frame, then writes 100 MiB. The host must refuse it at the 4-byte header, by
    the size it announces (the 1 MiB cap), and read no further: not "eventually rejected once it all arrived"."""
    host = await run("Flooder")
    sandbox = child(host, "flooder")
    isolated = host.isolated("flooder")
    assert isolated is not None
    channel = isolated.transport.child  # type: ignore[attr-defined]
    before = rss_bytes()
    results, took, lag = await attack(host)
    assert results == []
    [record] = host.health.view("flooder").recent
    assert record.exc_type == "ProtocolError"
    assert f"sent a frame of {100 << 20} bytes (cap {1 << 20})" in record.message  # the header check, by name
    # What the host read of the child, ever: its welcome, answers and the one read holding the header (asyncio reads
    # at most 256 KiB at a time) -- far below one message's cap, let alone 100 MiB.
    assert channel.bytes_read < 1 << 20
    assert rss_bytes() - before < 20 << 20
    assert lag < MAX_LAG_S and took < MAX_TOOK_S
    assert await dies(sandbox)


@pytest.mark.needs("bubblewrap")
@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
async def test_a_malformed_answer_is_rejected_recorded_and_the_child_killed(run: Run, kind: str) -> None:
    host = await run("Malformed")
    sandbox = child(host, "malformed")
    results, _, lag = await attack(host, world_id=sorted(BAD_FRAMES).index(kind))
    assert results == []
    assert lag < MAX_LAG_S
    [record] = host.health.view("malformed").recent
    assert record.exc_type == "ProtocolError"
    assert await dies(sandbox)


@pytest.mark.needs("bubblewrap")
@pytest.mark.parametrize(("world_id", "what"), [(0, "an id never asked for"), (2, "another plugin's name")])
async def test_a_forged_answer_is_rejected(run: Run, world_id: int, what: str) -> None:
    host = await run("Forger")
    results, _, _ = await attack(host, world_id=world_id)
    assert results == [], what
    assert host.health.view("forger").recent[-1].exc_type == "ProtocolError"


@pytest.mark.needs("bubblewrap")
async def test_a_replayed_answer_is_rejected(run: Run) -> None:
    host = await run("Forger")
    assert await host.hook.provide_simulation_defaults(world_id=9) == [{"good": 1}]
    results, _, _ = await attack(host, world_id=1)  # replays the answer to the first call
    assert results == []
    assert host.health.view("forger").recent[-1].exc_type == "ProtocolError"


@pytest.mark.needs("bubblewrap")
async def test_identity_comes_from_the_channel_not_from_what_the_plugin_asks(run: Run) -> None:
    host = await run("Impostor")
    [found] = await host.hook.provide_simulation_defaults(world_id=1)
    assert found["plugin:polite:x"] == "PermissionDenied"  # NamespaceViolation, raised plugin-side as a denial
    assert found["world"] == "PermissionDenied"  # world:read was never granted
    assert host.health.view("impostor").denials >= 2


# -- crashes ---------------------------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_crashed_child_restarts_and_registers_its_extensions_again(run: Run) -> None:
    host = await run("Phoenix")
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:phoenix:always")
    assert entry is not None
    assert await host.call_extension(entry, {}, None, fallback="failed") is True
    first = child(host, "phoenix")
    isolated = host.isolated("phoenix")
    assert isolated is not None and isolated.state is State.READY
    assert await host.hook.provide_simulation_defaults(world_id=13) == []  # it dies
    assert isolated.state is State.CRASHED  # decided before the call that crashed returned
    assert await host.call_extension(entry, {}, None, fallback="failed") == "failed"  # restarting: fallback at once
    assert await restarted(host, "phoenix")
    assert isolated.state is State.READY
    assert await host.call_extension(entry, {}, None, fallback="failed") is True
    assert child(host, "phoenix") != first  # a new process (psutil compares pid and start time)
    assert await dies(first)


@pytest.mark.needs("bubblewrap")
async def test_a_crash_loop_quarantines_the_plugin(run: Run) -> None:
    host = await run("Crasher")
    for _ in range(3):
        assert await restarted(host, "crasher")
        last = child(host, "crasher")
        assert await host.hook.provide_simulation_defaults(world_id=1) == []
    info = host.plugin("crasher")  # decided with the third crash, before the call that crashed returned
    assert info.state is PluginState.QUARANTINED
    isolated = host.isolated("crasher")
    assert isolated is not None and isolated.state in (State.GIVEN_UP, State.CLOSED)  # the quarantine stops it
    assert "crash loop" in (info.reason or "")
    assert await dies(last)


# -- the host's own messages stay under the cap ---------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_a_batch_too_big_for_one_message_is_split_and_one_too_big_item_fails_alone(run: Run) -> None:
    host = await run("Phoenix")
    entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:phoenix:always")
    assert entry is not None
    sandbox = child(host, "phoenix")
    blob = {"blob": "x" * 300_000}  # four of them are more than the 1 MiB cap
    answers = await asyncio.gather(*(host.call_extension(entry, blob, None, fallback="failed") for _ in range(6)))
    assert answers == [True] * 6
    huge = {"blob": "x" * (2 << 20)}
    assert await host.call_extension(entry, huge, None, fallback="failed") == "failed"
    assert host.health.view("phoenix").recent[-1].exc_type == "OversizedMessage"
    assert child(host, "phoenix") == sandbox and running(sandbox)  # nothing was sent: the plugin is unharmed
    assert await host.call_extension(entry, {}, None, fallback="failed") is True


# -- installing ------------------------------------------------------------------------------------------------------
@pytest.mark.needs("bubblewrap")
async def test_an_isolated_entry_point_runs_in_a_child_and_is_never_imported_by_the_host(
    no_leftover_processes: None,
) -> None:
    module = "tests.runtime.never_imported_plugin"
    sys.modules.pop(module, None)
    ep = importlib.metadata.EntryPoint("never-imported", module, ISOLATED_ENTRY_POINT_GROUP)
    host = create_host(Settings(), entry_points=[ep])
    await host.load()
    try:
        assert host.plugin("never-imported").state is PluginState.ENABLED
        [answer] = await host.hook.provide_simulation_defaults(world_id=1)
    finally:
        await host.shutdown()
    assert answer["imported_in"] != os.getpid()
    assert module not in sys.modules


# -- weaker machines ---------------------------------------------------------------------------------------------------
def nobody_can_run_this_python() -> bool:
    """Whether uid 65534 can start this interpreter and import from its site-packages, asked of the machine itself
    (the test's own expectation, not the host's probe)."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", "import pluggy, pydantic"],
            user=NOBODY_UID,
            group=NOBODY_UID,
            extra_groups=[],
            capture_output=True,
            timeout=60,
            check=False,
            cwd="/",
        )
    except PermissionError:  # it may not even execute the interpreter (say, one under /root)
        return False
    return done.returncode == 0


@pytest.mark.parametrize("kind", [SandboxKind.UNSHARE, SandboxKind.NONE])
async def test_without_bubblewrap_a_plugin_runs_confined_or_is_refused_with_the_reason(
    run: Run, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Without bubblewrap's filesystem view, a root host must still drop the child to uid 65534; where that uid
    cannot run the interpreter the host refuses process plugins (fail closed) rather than run them as root. A
    host that is not root runs its children as itself, and is never refused."""
    refused = os.geteuid() == 0 and not await asyncio.to_thread(nobody_can_run_this_python)
    monkeypatch.setattr("pixsim_hooks.runtime._sandbox.detect_sandbox", lambda: kind)
    before = processes.live_descendants()
    host = await run("Spinner")
    [info] = host.plugins()  # refused before its welcome, it is known by its source, not by its id
    if refused:
        assert (info.source, info.state) == ("process:tests.runtime.hostile_plugins:Spinner", PluginState.QUARANTINED)
        assert "install bubblewrap" in (info.reason or "")
        assert processes.started_since(before) == set()  # nothing was started, not even for a moment's check
        return
    assert info.state is PluginState.ENABLED, info.reason
    sandbox = child(host, "spinner")
    assert plugin_interpreter(sandbox).uids().real == expected_child_uid()
    results, took, lag = await attack(host)
    assert results == [] and took < MAX_TOOK_S and lag < MAX_LAG_S
    assert await dies(sandbox)


# -- a plugin in another language --------------------------------------------------------------------------------------
NODE = shutil.which("node") or "node"  # where it is missing, needs("node") fails the test saying so
JS_PLUGIN = Path(__file__).parents[1] / "protocol" / "js_plugin.mjs"


def js_view(energy: float) -> NpcView:
    session = SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1)
    npc = NpcSnapshot(id=7, world_id=1, name="Ana")
    return NpcView(1, npc, session, {}, {"energy": energy}, {}, 0.0, "morning")


def uid_running(sandbox: psutil.Process, argv: tuple[str, ...]) -> int:
    """The uid of the process in ``sandbox`` whose command line is exactly ``argv`` (not bwrap's, which only names
    it): the plugin's interpreter, exec'd by the child once it was confined."""
    [found] = [proc for proc in processes.live_descendants(sandbox.pid) if proc.cmdline() == list(argv)]
    return int(found.uids().real)


@pytest.mark.needs("bubblewrap", "node")
async def test_a_plugin_in_another_language_runs_sandboxed_and_answers_through_the_host(
    no_leftover_processes: None,
) -> None:
    # V8 reserves gigabytes of address space up front: its address-space limit must allow that (memory is not
    # what RLIMIT_AS measures; a cgroup would be the tool for that).
    plugin = ProcessPlugin(
        command=(NODE, str(JS_PLUGIN)), readable=(str(JS_PLUGIN),), runtime=ProcessRuntime(memory_mb=2048)
    )
    host = create_host(Settings(hook_deadline_ms=DEADLINE_MS), plugins=[plugin], entry_points=[])
    await host.load()
    try:
        assert host.plugin("js-sample").state is PluginState.ENABLED
        assert host.runs_as("js-sample").startswith("process (")
        entry = host.behavior.get(ExtensionKind.CONDITION, "plugin:js-sample:is_tired")
        assert entry is not None  # registered by name through a capability request, like any plugin
        assert await host.call_extension(entry, {"below": 50}, js_view(20), fallback=None) is True
        assert await host.call_extension(entry, {"below": 50}, js_view(80), fallback=None) is False
        assert uid_running(child(host, "js-sample"), plugin.command) == expected_child_uid()
    finally:
        await host.shutdown()


def test_a_process_plugin_is_a_python_target_or_a_command_never_both_or_neither() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ProcessPlugin()
    with pytest.raises(ValueError, match="exactly one"):
        ProcessPlugin("tests.runtime.hostile_plugins:Polite", command=("node", "plugin.mjs"))
    assert ProcessPlugin(command=["node", "p.mjs"]).label == "node p.mjs"  # a list is kept as a tuple


def a_dead_pid() -> int:
    """The pid of a process that has run and exited (a host killed earlier): free, unless reused meanwhile."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not psutil.pid_exists(gone.pid)
    return gone.pid


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_the_working_directories_a_killed_host_left_are_swept_and_no_live_hosts_are(tmp_path: Path) -> None:
    dead = a_dead_pid()
    left = tmp_path / f"pixsim-plugin-{dead}-gossip-abc123"
    (left / "deep").mkdir(parents=True)
    (left / "deep" / "plugin.log").write_text("the old run's log")
    ours = tmp_path / f"pixsim-plugin-{os.getpid()}-gossip-def456"  # a live host's: this test process
    ours.mkdir()
    unrelated = [tmp_path / "pixsim-plugin-notapid-x", tmp_path / f"other-{dead}-gossip"]
    for path in unrelated:
        path.mkdir()
    assert sweep_workdirs(str(tmp_path)) == [str(left)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ours.name, *(p.name for p in unrelated)])


@pytest.mark.needs("bubblewrap")
async def test_a_host_sweeps_what_a_killed_host_left_when_it_starts_its_first_plugin_process(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pixsim_hooks.runtime import _sandbox

    dead = a_dead_pid()
    monkeypatch.setattr(_sandbox, "_swept", False)  # as in a host process that has started no plugin process yet
    monkeypatch.setattr(_sandbox.tempfile, "tempdir", str(tmp_path))  # its temporary directory: this test's own
    left = tmp_path / f"pixsim-plugin-{dead}-polite-zzz"
    left.mkdir()
    await run("Polite")
    (remaining,) = names_in(tmp_path)  # the stale one is gone; what is left is the running child's
    assert remaining.startswith(f"pixsim-plugin-{os.getpid()}-")

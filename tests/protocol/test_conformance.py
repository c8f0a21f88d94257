"""Protocol 1 conformance (``docs/plugin-protocol.md``): each check of :mod:`tests.protocol.conformance` is one
test, run against every target below. Each test gets a fresh plugin (a new process or a new server).

- ``child``: the reference plugin (``sample_plugin.py``) in a real sandboxed child process (``ChildProcess``,
  bubblewrap / unshare when the machine has them, uid 65534 when root), through its public send / recv;
- ``fd3``: the same plugin runner started as an external plugin is (a command given the socket as fd 3), for the
  raw framing checks;
- ``http``: the same plugin behind ``serve_plugin`` on a real uvicorn server on 127.0.0.1;
- ``js``: ``js_plugin.mjs``, the conformance profile written in JavaScript from the specification alone, started
  as an external plugin (``node``, socket on fd 3): a plugin in another language, checked like ours;
- ``stdlib``: ``stdlib_plugin.py``, the same profile written from the specification in Python with the standard
  library only (no PixSim package), started like ``js`` (``python -I``, socket on fd 3);
- ``command``: an external plugin, only when ``PIXSIM_CONFORMANCE_COMMAND`` is set: a shell command line started
  with the protocol socket as file descriptor 3;
- ``url``: an external HTTP plugin, only when ``PIXSIM_CONFORMANCE_URL`` and ``PIXSIM_CONFORMANCE_SECRET`` are set.

The strict-bytes and shutdown checks also run on ``fd3``; the framing checks run on the raw stream targets (fd3,
js, stdlib, command), the HTTP checks on the HTTP ones (http, url). ``stdlib`` also runs under the real host, sandboxed
(``ProcessPlugin(command=...)``, as ``tests/runtime/test_sandbox.py`` runs ``js``), and is checked to import nothing
outside the standard library.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pixsim_hooks import EffectWriter, NpcSnapshot, NpcView, SessionSnapshot
from pixsim_hooks.host import PluginState, Settings, create_host
from pixsim_hooks.plugin import ExtensionKind, PluginCrashed, ProtocolError
from pixsim_hooks.runtime import MAX_MESSAGE_BYTES, ProcessPlugin, serve_plugin
from pixsim_hooks.runtime._protocol import dumps
from pixsim_hooks.runtime._sandbox import ChildProcess, import_roots
from tests.protocol import conformance, sample_plugin
from tests.protocol.conformance import (
    ChannelClosed,
    FramedChannel,
    HttpChannel,
    PluginChannel,
    ProcessChannel,
    spawn_command,
)
from tests.servers import ServedApp

SAMPLE = "tests.protocol.sample_plugin"
SECRET = b"conformance-secret"
COMMAND = os.environ.get("PIXSIM_CONFORMANCE_COMMAND")
URL, URL_SECRET = os.environ.get("PIXSIM_CONFORMANCE_URL"), os.environ.get("PIXSIM_CONFORMANCE_SECRET")

NODE = shutil.which("node") or "node"  # part of this project's machines; .ci/sandbox.sh installs it where missing
JS_PLUGIN = Path(__file__).with_name("js_plugin.mjs")
STDLIB_PLUGIN = Path(__file__).with_name("stdlib_plugin.py")
COMMANDS = {
    "js": shlex.join([str(NODE), str(JS_PLUGIN)]),
    "stdlib": shlex.join([sys.executable, "-I", str(STDLIB_PLUGIN)]),
    **({"command": COMMAND} if COMMAND else {}),
}

pytestmark = pytest.mark.needs("bubblewrap", "node")  # the child and stdlib targets run sandboxed; js runs on node
TARGETS = [
    "child",
    "http",
    "js",
    "stdlib",
    *(["command"] if COMMAND else []),
    *(["url"] if URL and URL_SECRET else []),
]
RAW = ["fd3", *TARGETS]  # the checks on raw bytes and on closing run on the fd3 runner too
FRAMED = [t for t in RAW if t in ("fd3", "js", "stdlib", "command")]
HTTP = [t for t in TARGETS if t in ("http", "url")]


# -- targets -------------------------------------------------------------------------------------------------------
class ChildProcessChannel(PluginChannel):
    """The reference plugin in a sandboxed child, through ``ChildProcess``'s own public channel: what the host
    receives is parsed by the host's strict parser (``ChildProcess.recv``) before the suite sees it. The frames
    themselves are not exposed by ``ChildProcess``: the framing checks use the ``fd3`` target instead."""

    kind = "child"

    def __init__(self, child: ChildProcess) -> None:
        self.child = child

    async def exchange_bytes(self, body: bytes) -> bytes:
        try:
            await self.child.send(json.loads(body))  # the suite sends JSON only (malformed ones are schema-invalid)
            reply = await self.child.recv()
        except PluginCrashed as exc:
            raise ChannelClosed(str(exc)) from None
        except ProtocolError as exc:
            raise AssertionError(f"the host refuses the plugin's answer: {exc}") from None
        return dumps(reply)

    async def wait_closed(self, within: float) -> int | None:
        assert self.child.proc is not None
        async with asyncio.timeout(within):
            code = await self.child.proc.wait()
        with pytest.raises(PluginCrashed):  # closed, and nothing was left unread in it
            await self.child.recv()
        return code

    async def aclose(self) -> None:
        await self.child.kill()


@contextlib.asynccontextmanager
async def child_process_channel() -> AsyncIterator[ChildProcessChannel]:
    """The reference plugin in a sandboxed child process, started exactly as the host starts one."""
    child = ChildProcess("sample", ProcessPlugin(SAMPLE), MAX_MESSAGE_BYTES)
    await child.start()
    try:
        yield ChildProcessChannel(child)
    finally:
        await child.kill()


def fd3_command(target: str, workdir: str) -> str:
    """The command line that runs our Python plugin runner as any-language plugins run: the socket on fd 3."""
    limits = {"memory_mb": 512, "cpu_seconds": 60, "open_files": 64, "file_size_mb": 16, "processes": 32}
    paths, _ = import_roots(target)
    spec = {"target": target, "paths": paths, "fd": 3, "uid": None, "workdir": workdir, "max_bytes": MAX_MESSAGE_BYTES}
    argv = [sys.executable, "-I", "-m", "pixsim_hooks.runtime._child", json.dumps(spec | {"limits": limits})]
    return shlex.join(argv)


@contextlib.asynccontextmanager
async def fd3_sample_channel() -> AsyncIterator[ProcessChannel]:
    """The reference plugin started through :func:`~tests.protocol.conformance.spawn_command` (socket on fd 3):
    raw frames for the framing checks, and a self-test of the path external plugins take."""
    with tempfile.TemporaryDirectory(prefix="pixsim-conformance-") as workdir:
        process = await spawn_command(fd3_command(SAMPLE, workdir))
        try:
            yield process
        finally:
            await process.aclose()


@contextlib.asynccontextmanager
async def http_served_sample_channel() -> AsyncIterator[HttpChannel]:
    """The reference plugin served over HTTP by ``serve_plugin`` behind a real uvicorn server."""
    served = ServedApp(serve_plugin(sample_plugin, secret=SECRET))
    channel = HttpChannel(served.url, SECRET)
    try:
        yield channel
    finally:
        await channel.aclose()
        served.stop()


@contextlib.asynccontextmanager
async def open_channel(target: str) -> AsyncIterator[PluginChannel]:
    if target == "child":
        async with child_process_channel() as channel:
            yield channel
    elif target == "fd3":
        async with fd3_sample_channel() as framed:
            yield framed
    elif target == "http":
        async with http_served_sample_channel() as http:
            yield http
    elif target in COMMANDS:
        process = await spawn_command(COMMANDS[target])
        try:
            yield process
        finally:
            await process.aclose()
    else:
        assert URL is not None and URL_SECRET is not None
        remote = HttpChannel(URL, URL_SECRET.encode())
        try:
            yield remote
        finally:
            await remote.aclose()


@pytest.fixture(params=TARGETS)
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[PluginChannel]:
    async with open_channel(request.param) as opened:
        yield opened


@pytest.fixture(params=RAW)
async def any_channel(request: pytest.FixtureRequest) -> AsyncIterator[PluginChannel]:
    async with open_channel(request.param) as opened:
        yield opened


@pytest.fixture(params=FRAMED)
async def framed(request: pytest.FixtureRequest) -> AsyncIterator[FramedChannel]:
    async with open_channel(request.param) as opened:
        assert isinstance(opened, FramedChannel)
        yield opened


@pytest.fixture(params=HTTP)
async def http(request: pytest.FixtureRequest) -> AsyncIterator[HttpChannel]:
    async with open_channel(request.param) as opened:
        assert isinstance(opened, HttpChannel)
        yield opened


# -- the conversation ----------------------------------------------------------------------------------------------
async def test_welcome_answers_hello_with_its_id_protocol_1_a_valid_manifest_and_isolatable_hooks(
    channel: PluginChannel,
) -> None:
    await conformance.check_welcome_answers_hello(channel)


async def test_grant_is_acked_with_its_id(channel: PluginChannel) -> None:
    await conformance.check_grant_is_acked(channel)


async def test_ping_is_answered_pong_with_its_id(channel: PluginChannel) -> None:
    await conformance.check_ping_is_answered_pong(channel)


async def test_every_answer_is_utf8_strict_json_and_a_valid_plugin_message(any_channel: PluginChannel) -> None:
    await conformance.check_every_answer_is_strict_json(any_channel)


async def test_a_call_to_an_unknown_extension_or_undeclared_hook_is_an_error_with_the_call_id(
    channel: PluginChannel,
) -> None:
    await conformance.check_unknown_target_is_an_error(channel)


async def test_a_batch_of_n_items_to_a_declared_hook_answers_n_results_in_order(channel: PluginChannel) -> None:
    await conformance.check_hook_batch_answers_each_item_in_order(channel)


async def test_a_condition_batch_answers_a_boolean_per_item_in_order_with_shared_values(
    channel: PluginChannel,
) -> None:
    await conformance.check_condition_batch_answers_in_order(channel)


async def test_a_shared_value_stays_valid_for_the_call_whose_drop_forgets_it(channel: PluginChannel) -> None:
    await conformance.check_a_dropped_value_still_serves_the_call_that_drops_it(channel)


async def test_extensions_are_registered_by_name_and_called_by_the_full_id_the_host_answered(
    channel: PluginChannel,
) -> None:
    await conformance.check_registration_is_by_name_and_calls_use_the_full_id(channel)


async def test_capability_requests_carry_the_call_id_the_item_and_strictly_increasing_ids(
    channel: PluginChannel,
) -> None:
    await conformance.check_capability_requests_name_their_call_and_item(channel)


async def test_a_denied_capability_reaches_the_plugin_as_a_denial_and_the_call_is_still_answered(
    channel: PluginChannel,
) -> None:
    await conformance.check_denied_capability_still_answers_the_call(channel)


async def test_an_effect_reads_its_flag_through_the_host_and_answers_its_staged_writes(
    channel: PluginChannel,
) -> None:
    await conformance.check_effect_answers_its_staged_writes(channel)


async def test_a_malformed_cap_result_closes_the_channel_or_fails_that_item_never_more(
    channel: PluginChannel,
) -> None:
    await conformance.check_malformed_cap_result_is_not_believed(channel)


async def test_shutdown_is_answered_bye_with_its_id_and_the_plugin_exits_0(any_channel: PluginChannel) -> None:
    await conformance.check_shutdown_is_answered_bye_and_the_channel_closes(any_channel)


# -- framing -------------------------------------------------------------------------------------------------------
async def test_each_answer_is_exactly_one_frame_and_nothing_is_sent_unasked(framed: FramedChannel) -> None:
    await conformance.check_each_answer_is_exactly_one_frame(framed)


async def test_a_frame_arriving_in_pieces_is_read_as_one_message(framed: FramedChannel) -> None:
    await conformance.check_a_frame_in_pieces_is_read_whole(framed)


# -- HTTP ----------------------------------------------------------------------------------------------------------
async def test_unsigned_forged_stale_tampered_and_replayed_requests_are_refused_401(http: HttpChannel) -> None:
    await conformance.check_http_refuses_unsigned_forged_stale_and_replayed_requests(http)


async def test_requests_outside_the_servers_session_are_answered_409_naming_it(http: HttpChannel) -> None:
    await conformance.check_http_takes_requests_only_in_its_session(http)


async def test_oversized_bodies_are_refused_413_and_non_protocol_bodies_400(http: HttpChannel) -> None:
    await conformance.check_http_refuses_oversized_and_non_protocol_bodies(http)


# -- the plugins written from the specification, under the real host -----------------------------------------------
def npc_view(npc_id: int, energy: float) -> NpcView:
    session = SessionSnapshot(id=1, world_id=1, world_time=0.0, version=1)
    npc = NpcSnapshot(id=npc_id, world_id=1, name="Ana")
    return NpcView(1, npc, session, {}, {"energy": energy}, {}, 0.0, "morning")


async def test_the_stdlib_plugin_runs_sandboxed_and_its_extensions_answer_through_the_host() -> None:
    """As the JavaScript one does in tests/runtime/test_sandbox.py: the host starts the command under its sandbox."""
    plugin = ProcessPlugin(command=(sys.executable, "-I", str(STDLIB_PLUGIN)), readable=(str(STDLIB_PLUGIN),))
    host = create_host(Settings(), plugins=[plugin], entry_points=[])
    await host.load()
    try:
        assert host.plugin("stdlib-sample").state is PluginState.ENABLED
        assert host.runs_as("stdlib-sample").startswith("process (")
        condition = host.behavior.get(ExtensionKind.CONDITION, "plugin:stdlib-sample:is_tired")
        effect = host.behavior.get(ExtensionKind.EFFECT, "effect:plugin:stdlib-sample:mark_seen")
        assert condition is not None and effect is not None  # registered by name through capability requests
        assert await host.call_extension(condition, {"below": 50}, npc_view(7, 20), fallback=None) is True
        assert await host.call_extension(condition, {"below": 50}, npc_view(7, 80), fallback=None) is False
        writer = EffectWriter("stdlib-sample", read={"plugin:stdlib-sample:seen": 4}.get)  # the tick's flags so far
        await host.call_extension(effect, {}, npc_view(7, 20), writer, fallback=None)
        staged = writer.seal()
        assert dict(staged.flags) == {"plugin:stdlib-sample:seen": 5}
        assert {k: dict(v) for k, v in staged.relationships.items()} == {"npc:7": {"affinity": 1.0}}
        assert not host.health.of("stdlib-sample").recent
    finally:
        await host.shutdown()


NOT_STDLIB = {"pixsim_hooks", "pluggy", "pydantic", "hookspecs", "proxies", "tests"}

# Runs the plugin as __main__ and, when it exits, writes every module it imported to the file named by argv[2].
_RECORD_IMPORTS = """
import atexit, json, runpy, sys
before = set(sys.modules)
atexit.register(lambda: open(sys.argv[2], "w").write(json.dumps(sorted(set(sys.modules) - before))))
runpy.run_path(sys.argv[1], run_name="__main__")
"""


async def test_the_stdlib_plugin_imports_only_the_standard_library_over_a_whole_conversation(tmp_path: Path) -> None:
    record = tmp_path / "imported.json"
    command = shlex.join([sys.executable, "-I", "-c", _RECORD_IMPORTS, str(STDLIB_PLUGIN), str(record)])
    channel = await spawn_command(command)
    try:
        await conformance.check_every_answer_is_strict_json(channel)  # every path: cap requests, effect, error
        assert await channel.wait_closed(conformance.REPLY_TIMEOUT_S) == 0
    finally:
        await channel.aclose()
    imported = json.loads(record.read_text())
    assert {"socket", "struct"} <= set(imported), "the record should list the plugin's own imports"
    assert [m for m in imported if m.split(".")[0] not in sys.stdlib_module_names] == []
    assert [m for m in imported if m.split(".")[0] in NOT_STDLIB] == []


def test_the_stdlib_plugin_source_imports_only_the_standard_library() -> None:
    """Also the imports on paths no conversation takes (the run above sees only what ran)."""
    tree = ast.parse(STDLIB_PLUGIN.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "." for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    assert names and {n.split(".")[0] for n in names} <= sys.stdlib_module_names
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    dynamic = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ("__import__", "importlib")]
    assert relative == [] and dynamic == []


def test_every_conformance_check_is_run_by_a_test_here() -> None:
    source = inspect.getsource(sys.modules[__name__])
    checks = (*conformance.CHECKS, *conformance.FRAMED_CHECKS, *conformance.HTTP_CHECKS)
    defined = {name for name, value in vars(conformance).items() if name.startswith("check_") and callable(value)}
    assert {c.__name__ for c in checks} == defined  # a check left out of the tuples would run nowhere else
    assert [c.__name__ for c in checks if f"conformance.{c.__name__}(" not in source] == []

"""Our host refuses what a bad plugin sends (red-team 23, 24, 27; ``docs/plugin-protocol.md`` sections 3 and 5).

Two levels: the strict parser and the message schemas (:func:`~pixsim_hooks.runtime._protocol.loads`,
:func:`~pixsim_hooks.runtime._protocol.parse_plugin_message`) refuse a message outright; and :class:`IsolatedPlugin`,
talking
through :class:`ScriptedTransport` (an in-memory transport whose "plugin" is a list of answers, parsed with the host's
parser as the real transports do), refuses answers that break the conversation. Each case asserts ProtocolError and,
where a transport is involved, what became of it, for both kinds of transport:

- ``process`` (restartable, like a child process): the transport is closed with ``kill=True`` and the plugin is no
  longer running (it would be restarted after a backoff; the tests' backoff is an hour);
- ``remote`` (not restartable, like an HTTP endpoint): the host does not own the remote, so the transport stays
  open and only that call fails; the next call is answered normally.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pixsim_hooks import PermissionDenied
from pixsim_hooks.plugin import PluginCrashed, PluginLoadError, ProtocolError
from pixsim_hooks.runtime import MAX_MESSAGE_BYTES, IsolatedPlugin, RestartPolicy
from pixsim_hooks.runtime._protocol import MAX_DEPTH, dumps, loads, parse_plugin_message
from tests.protocol.conformance import ISOLATABLE_HOOKS

Script = Callable[[dict[str, Any], int], bytes]  # (the message the host sent, the id of the call being handled)
Answer = bytes | Script
HOOK = ("hook", "provide_simulation_defaults")
MANIFEST = {
    "id": "scripted",
    "name": "Scripted",
    "version": "1.0.0",
    "trust": "community",
    "isolation": "process",
    "permissions": ["behavior:configure_simulation"],
}


class ScriptedTransport:
    """A :class:`~pixsim_hooks.runtime.Transport` whose plugin is a script: each answer is bytes, or a function of
    the message the host sent and the id of the call being handled that returns bytes; parsed with the host's
    strict parser, as the real transports do."""

    def __init__(self, *answers: Answer, restartable: bool = True, label: str = "scripted") -> None:
        self.label = label
        self.restartable = restartable
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []
        self.opened = 0
        self.killed: bool | None = None  # None: never closed; else the close's ``kill``
        self.calls: list[int] = []  # ids of the calls the host sent

    def describe(self) -> str:
        return "scripted"

    async def open(self) -> None:
        self.opened += 1

    async def exchange(self, message: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        self.sent.append(copy.deepcopy(message))
        if message["type"] == "call":
            self.calls.append(message["id"])
        if not self.answers:
            raise PluginCrashed("the script has no answer left", plugin_id=self.label)
        answer = self.answers.pop(0)
        return loads(answer(message, self.calls[-1] if self.calls else 0) if callable(answer) else answer)

    async def close(self, *, kill: bool) -> None:
        self.killed = kill


def welcome(protocol: int = 1) -> Script:
    def answer(message: dict[str, Any], _: int) -> bytes:
        hooks = ["provide_simulation_defaults"]
        return dumps(
            {"type": "welcome", "id": message["id"], "protocol": protocol, "manifest": MANIFEST, "hooks": hooks}
        )

    return answer


def ack(message: dict[str, Any], _: int) -> bytes:
    return dumps({"type": "ack", "id": message["id"]})


def result(*values: Any, call_id: Callable[[int], int] = lambda call: call, **extra: Any) -> Answer:
    """The answer to the call being handled (``call_id`` picks the id it names instead)."""

    def answer(message: dict[str, Any], call: int) -> bytes:
        results = [{"ok": True, "value": v} for v in values]
        return dumps({"type": "result", "id": call_id(call), "results": results, **extra})

    return answer


def cap(cap_id: int, *, call_id: Callable[[int], int] = lambda call: call, item: int = 0) -> Answer:
    """A capability request made while handling the call (``call_id`` picks the call it names instead)."""

    def answer(message: dict[str, Any], call: int) -> bytes:
        request = {"type": "cap", "id": cap_id, "call": call_id(call), "item": item, "capability": "log"}
        return dumps(request | {"member": "info", "args": ["hello"]})

    return answer


class Log:
    """The ``ctx.log`` capability of the scripted plugin's host-side context."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, event: str) -> None:
        self.lines.append(event)


class Ctx:
    def __init__(self) -> None:
        self.log = Log()


KINDS = ["process", "remote"]
_STARTED: list[IsolatedPlugin] = []


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which kind of transport the scripted plugin is reached through (see the module's docstring)."""
    return str(request.param)


@pytest.fixture(autouse=True)
async def stop_plugins() -> AsyncIterator[None]:
    """Stop every plugin a test started (a killed "process" has a restart pending: it is cancelled)."""
    yield
    while _STARTED:
        await _STARTED.pop().stop()


def isolated(transport: ScriptedTransport) -> IsolatedPlugin:
    denials: list[PermissionDenied] = []
    plugin = IsolatedPlugin(transport, deadline_s=2.0, on_denied=denials.append, policy=RestartPolicy(backoff_s=3600.0))
    _STARTED.append(plugin)
    return plugin


async def started(*answers: Answer, kind: str) -> tuple[IsolatedPlugin, ScriptedTransport]:
    """An IsolatedPlugin past hello and grant, reached through a transport of ``kind``, whose next answers are
    ``answers``. ``kind`` has no default: a case that forgets to pass it would test the process kind twice."""
    assert kind in KINDS
    transport = ScriptedTransport(welcome(), ack, *answers, restartable=kind == "process")
    plugin = isolated(transport)
    await plugin.prepare("scripted", ["behavior:configure_simulation"])
    assert plugin.running
    return plugin, transport


async def call(plugin: IsolatedPlugin, ctx: Ctx | None = None) -> Any:
    return await plugin.call(HOOK, (1,), ctx or Ctx())


async def assert_rejected(plugin: IsolatedPlugin, transport: ScriptedTransport, kind: str) -> ProtocolError:
    """The next call fails with ProtocolError; then, by ``kind`` (see the module's docstring): a process is killed
    and later calls fail at once without reaching it; a remote stays open and its next call is answered."""
    assert transport.restartable is (kind == "process"), f"the script is not modelling a {kind} transport"
    with pytest.raises(ProtocolError) as caught:
        await call(plugin)
    if kind == "process":
        assert transport.killed is True, "the plugin's transport was not closed with kill"
        assert not plugin.running
        said = len(transport.sent)
        with pytest.raises(PluginCrashed):  # down until the restart (an hour away here): nothing more is sent
            await call(plugin)
        assert len(transport.sent) == said
    else:
        assert transport.killed is None, "a remote is not the host's to close"
        assert plugin.running
        transport.answers.append(result("after"))
        assert await call(plugin) == "after"
        assert transport.killed is None and plugin.running
    assert transport.opened == 1  # never reopened: a process is restarted only after the backoff, a remote never
    return caught.value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def nested(levels: int) -> bytes:
    """A result whose whole message nests ``levels`` containers deep (message, results, item, then lists)."""
    value = b"[" * (levels - 3) + b"]" * (levels - 3)
    return b'{"type":"result","id":%d,"results":[{"ok":true,"value":' + value + b"}]}"


# -- strict JSON (red-team 23) -----------------------------------------------------------------------------------------
NOT_STRICT_JSON = {
    "NaN": b'{"type":"result","id":%d,"results":[{"ok":true,"value":NaN}]}',
    "Infinity": b'{"type":"result","id":%d,"results":[{"ok":true,"value":Infinity}]}',
    "-Infinity": b'{"type":"result","id":%d,"results":[{"ok":true,"value":-Infinity}]}',
    "1e400": b'{"type":"result","id":%d,"results":[{"ok":true,"value":1e400}]}',
    "duplicate key": b'{"type":"result","id":%d,"results":[{"ok":true,"ok":true,"value":1}]}',
    "depth 33": nested(MAX_DEPTH + 1),
    "oversize": b'{"type":"result","id":%d,"results":[{"ok":true,"value":"' + b"x" * (1 << 20) + b'"}]}',
    "invalid UTF-8": b'{"type":"result","id":%d,"results":[{"ok":true,"value":"\xff"}]}',
    "trailing data": b'{"type":"result","id":%d,"results":[]} {}',
    "not an object": b'[{"type":"result","id":%d,"results":[]}]',
}


@pytest.mark.parametrize("case", sorted(NOT_STRICT_JSON))
def test_the_strict_parser_refuses(case: str) -> None:
    with pytest.raises(ProtocolError):
        loads(NOT_STRICT_JSON[case] % 1 if b"%d" in NOT_STRICT_JSON[case] else NOT_STRICT_JSON[case])


def test_the_depth_limit_is_32_levels_counting_the_message_itself() -> None:
    assert depth_of(loads(nested(MAX_DEPTH) % 1)) == MAX_DEPTH == 32
    with pytest.raises(ProtocolError, match="nested"):
        loads(nested(MAX_DEPTH + 1) % 1)


@pytest.mark.parametrize("case", sorted(NOT_STRICT_JSON))
async def test_a_call_answered_with_non_strict_json_is_rejected_and_the_plugin_killed(case: str, kind: str) -> None:
    template = NOT_STRICT_JSON[case]
    plugin, transport = await started(lambda m, call: template % call if b"%d" in template else template, kind=kind)
    await assert_rejected(plugin, transport, kind)


def test_the_size_cap_is_1_mib_and_a_message_of_exactly_that_size_is_accepted() -> None:
    """Section 5.1: at most 1 048 576 bytes (the cap itself is allowed)."""
    head, tail = b'{"type":"pong","id":1,"pad":"', b'"}'

    def message(size: int) -> bytes:
        return head + b"x" * (size - len(head) - len(tail)) + tail

    assert MAX_MESSAGE_BYTES == 1_048_576
    assert loads(message(1_048_576))["type"] == "pong"
    with pytest.raises(ProtocolError, match="exceeds"):
        loads(message(1_048_577))


NOT_UTF8_TEXT = {
    "UTF-8 byte-order mark": b'\xef\xbb\xbf{"type":"pong","id":1}',
    "UTF-16": '{"type":"pong","id":1}'.encode("utf-16"),
    "lone surrogate escape": b'{"type":"result","id":1,"results":[{"ok":true,"value":"\\ud800"}]}',
}


@pytest.mark.parametrize("case", sorted(NOT_UTF8_TEXT))
def test_the_strict_parser_refuses_text_that_is_not_utf8(case: str) -> None:
    with pytest.raises(ProtocolError):
        loads(NOT_UTF8_TEXT[case])


# -- message schemas (red-team 23, 27) ---------------------------------------------------------------------------------
NOT_A_PLUGIN_MESSAGE: dict[str, Callable[[int], dict[str, Any]]] = {
    "unknown type": lambda i: {"type": "results", "id": i, "results": []},
    "a host message": lambda i: {"type": "ping", "id": i},
    "id as a string": lambda i: {"type": "result", "id": str(i), "results": []},
    "id as a float": lambda i: {"type": "result", "id": float(i), "results": []},
    "id 0": lambda i: {"type": "result", "id": 0, "results": []},
    "id above 2**53": lambda i: {"type": "result", "id": 2**53 + 1, "results": []},
    "results missing": lambda i: {"type": "result", "id": i},
    "ok as a string": lambda i: {"type": "result", "id": i, "results": [{"ok": "true", "value": 1}]},
    "extra field plugin_id": lambda i: {"type": "result", "id": i, "results": [], "plugin_id": "other"},
    "extra field in an item": lambda i: {"type": "result", "id": i, "results": [{"ok": True, "plugin": "other"}]},
    "error type too long": lambda i: {"type": "error", "id": i, "error": {"type": "E" * 101}},
}


@pytest.mark.parametrize("case", sorted(NOT_A_PLUGIN_MESSAGE))
def test_the_schema_refuses(case: str) -> None:
    with pytest.raises(ProtocolError):
        parse_plugin_message(NOT_A_PLUGIN_MESSAGE[case](1))


@pytest.mark.parametrize("case", sorted(NOT_A_PLUGIN_MESSAGE))
async def test_a_call_answered_with_an_invalid_message_is_rejected_and_the_plugin_killed(case: str, kind: str) -> None:
    plugin, transport = await started(lambda m, call: dumps(NOT_A_PLUGIN_MESSAGE[case](call)), kind=kind)
    await assert_rejected(plugin, transport, kind)


async def test_a_result_that_names_another_plugin_is_rejected_identity_is_the_channels(kind: str) -> None:
    """Red-team 27: no message has a field naming a plugin; one that adds it is refused, not believed."""
    plugin, transport = await started(result({"stolen": True}, plugin_id="other-plugin"), kind=kind)
    error = await assert_rejected(plugin, transport, kind)
    assert "plugin_id" in str(error)


async def test_a_cap_request_that_names_another_plugin_is_rejected(kind: str) -> None:
    def forged(message: dict[str, Any], call: int) -> bytes:
        request = {"type": "cap", "id": 1, "call": call, "capability": "log", "member": "info"}
        return dumps(request | {"plugin_id": "other-plugin"})

    plugin, transport = await started(forged, kind=kind)
    await assert_rejected(plugin, transport, kind)


# -- the conversation (red-team 24) ------------------------------------------------------------------------------------
async def test_a_well_behaved_script_is_answered_so_the_rejections_below_are_about_the_answers(kind: str) -> None:
    plugin, transport = await started(cap(1), result({"x": 1}), kind=kind)
    ctx = Ctx()
    assert await call(plugin, ctx) == {"x": 1}
    assert ctx.log.lines == ["hello"]
    assert transport.sent[-1] == {"type": "cap_result", "id": 1, "ok": True, "value": None}
    assert transport.killed is None and plugin.running


async def test_a_result_for_a_request_that_was_never_made_is_rejected(kind: str) -> None:
    plugin, transport = await started(result(1, call_id=lambda call: call + 5), kind=kind)
    await assert_rejected(plugin, transport, kind)


async def test_a_replayed_answer_to_an_earlier_call_is_rejected(kind: str) -> None:
    plugin, transport = await started(result(1), result(2, call_id=lambda call: transport.calls[0]), kind=kind)
    assert await call(plugin) == 1
    await assert_rejected(plugin, transport, kind)


async def test_a_result_after_a_capability_request_must_name_the_call_not_the_request(kind: str) -> None:
    plugin, transport = await started(cap(7), result(1, call_id=lambda call: 7), kind=kind)  # names the request
    await assert_rejected(plugin, transport, kind)


async def test_a_cap_naming_another_call_is_rejected(kind: str) -> None:
    plugin, transport = await started(cap(1, call_id=lambda call: call + 1), kind=kind)
    await assert_rejected(plugin, transport, kind)


async def test_a_replayed_cap_id_in_the_same_call_is_rejected(kind: str) -> None:
    plugin, transport = await started(cap(3), cap(3), kind=kind)
    await assert_rejected(plugin, transport, kind)
    # the first request was answered; the replay was refused, never answered
    assert [m["id"] for m in transport.sent if m["type"] == "cap_result"] == [3]


async def test_a_cap_id_not_above_an_earlier_calls_is_rejected(kind: str) -> None:
    plugin, transport = await started(cap(5), result(1), cap(4), kind=kind)
    assert await call(plugin) == 1
    await assert_rejected(plugin, transport, kind)


@pytest.mark.parametrize("count", [0, 2])
async def test_a_result_with_the_wrong_number_of_items_is_rejected(count: int, kind: str) -> None:
    plugin, transport = await started(result(*range(count)), kind=kind)
    error = await assert_rejected(plugin, transport, kind)
    assert f"answered {count} of 1 items" in str(error)


@pytest.mark.parametrize("answer_type", ["welcome", "ack", "pong", "bye"])
async def test_a_call_answered_with_a_message_of_another_type_is_rejected(answer_type: str, kind: str) -> None:
    def answer(message: dict[str, Any], call: int) -> bytes:
        if answer_type == "welcome":
            return welcome()(message, call)
        return dumps({"type": answer_type, "id": call})

    plugin, transport = await started(answer, kind=kind)
    await assert_rejected(plugin, transport, kind)


def pong(message: dict[str, Any], _: int) -> bytes:
    return dumps({"type": "pong", "id": message["id"]})


HANDSHAKE_REFUSALS: dict[str, tuple[tuple[Answer, ...], str]] = {
    "hello answered with pong": ((pong,), "answered hello with Pong"),
    "welcome with protocol 2": ((welcome(protocol=2),), "speaks protocol 2, not 1"),
    "grant answered with pong": ((welcome(), pong), "answered grant with Pong"),
}


@pytest.mark.parametrize("case", sorted(HANDSHAKE_REFUSALS))
async def test_a_handshake_answered_wrongly_is_rejected(case: str) -> None:
    answers, message = HANDSHAKE_REFUSALS[case]
    transport = ScriptedTransport(*answers)
    plugin = isolated(transport)
    with pytest.raises(ProtocolError, match=message):
        await plugin.prepare("scripted", [])
    assert not plugin.running
    assert len(transport.sent) == len(answers)  # nothing more is said to it (no grant after a bad welcome)


@pytest.mark.parametrize("case", sorted(HANDSHAKE_REFUSALS))
async def test_a_handshake_answered_wrongly_also_closes_the_transport(case: str) -> None:
    transport = ScriptedTransport(*HANDSHAKE_REFUSALS[case][0])
    plugin = isolated(transport)
    with pytest.raises(ProtocolError):
        await plugin.prepare("scripted", [])
    assert transport.killed is True


def welcome_declaring(*hooks: str) -> Script:
    def answer(message: dict[str, Any], _: int) -> bytes:
        return dumps({"type": "welcome", "id": message["id"], "protocol": 1, "manifest": MANIFEST, "hooks": hooks})

    return answer


@pytest.mark.parametrize("kind", KINDS)
async def test_a_welcome_declaring_middleware_is_refused_at_load_on_either_transport(kind: str) -> None:
    transport = ScriptedTransport(welcome_declaring("provide_middleware"), restartable=kind == "process")
    with pytest.raises(PluginLoadError, match="provide_middleware"):
        await isolated(transport).prepare("scripted", [])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hook", ["provide_router", "provide_admin_router"])
async def test_a_plugin_declaring_a_router_it_was_not_granted_is_accepted_and_never_asked_for_it(
    hook: str, kind: str
) -> None:
    transport = ScriptedTransport(welcome_declaring(hook), ack, restartable=kind == "process")
    plugin = isolated(transport)
    await plugin.prepare("scripted", [])
    assert plugin.running
    assert [m["type"] for m in transport.sent] == ["hello", "grant"]  # no call: routes:register was not granted


@pytest.mark.parametrize("hook", sorted(ISOLATABLE_HOOKS))
async def test_a_welcome_declaring_any_hook_of_section_7_is_accepted(hook: str) -> None:
    plugin = isolated(ScriptedTransport(welcome_declaring(hook), ack))
    await plugin.prepare("scripted", [])
    assert plugin.running and plugin.welcome is not None and plugin.welcome.hooks == [hook]


async def test_a_cap_for_an_item_outside_the_batch_is_rejected(kind: str) -> None:
    plugin, transport = await started(cap(1, item=7), kind=kind)
    await assert_rejected(plugin, transport, kind)

"""Malicious and broken plugins for the out-of-process red-team tests (``../shared/red-team.md`` 11-18, 23, 24, 27,
37, 38).

Each runs in a sandboxed child (``ProcessPlugin("tests.runtime.hostile_plugins:<Name>")``); none is ever imported into
the host by the tests that run them. Attacks that report what they found answer ``provide_simulation_defaults``
with a mapping of findings, so the test can assert that nothing was found.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pixsim_hooks import PluginManifest, hookimpl

MARKER_SECONDS = "987654"  # the `sleep` a Breeder leaves behind: easy to recognise in a leftover report


def hostile(pid: str, *permissions: str) -> PluginManifest:
    return PluginManifest(
        id=pid,
        name=pid.title(),
        version="1.0.0",
        trust="community",
        isolation="process",
        permissions=("behavior:configure_simulation", *permissions),
    )


def _channel_fd() -> int:
    """The protocol socket, found the way an attacker would: from the child's own command line."""
    return int(json.loads(sys.argv[-1])["fd"])


def _raw_frame(body: bytes, claimed: int | None = None) -> None:
    os.write(_channel_fd(), struct.pack(">I", len(body) if claimed is None else claimed) + body)


class Polite:
    """Behaves: answers with its process id (tests use it to find the child)."""

    manifest = hostile("polite")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        return {"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd()}


class Modest:
    """Asks its manifest for less than the default limits; reports what its process runs under."""

    manifest = PluginManifest(
        **{**hostile("modest").model_dump(), "process": {"memory_mb": 256, "open_files": 32, "cpu_seconds": 600}}
    )

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        import resource

        return {
            "memory": resource.getrlimit(resource.RLIMIT_AS)[1],
            "files": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
            "cpu": resource.getrlimit(resource.RLIMIT_CPU)[1],
        }


class Greedy(Modest):
    """Asks its manifest for far more than the defaults (a plugin raising its own limits)."""

    manifest = PluginManifest(
        **{**hostile("greedy").model_dump(), "process": {"memory_mb": 1 << 30, "open_files": 1 << 20}}
    )


class Spinner:
    """11: an infinite loop in a hook."""

    manifest = hostile("spinner")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        while True:
            pass


class Stubborn:
    """12: ignores SIGTERM (and SIGINT, SIGHUP), then spins."""

    manifest = hostile("stubborn")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            pass


class Hog:
    """13: allocates 8 GiB and touches it."""

    manifest = hostile("hog")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        block = bytearray(8 << 30)
        block[:: 1 << 20] = b"x" * len(block[:: 1 << 20])
        return {"allocated": len(block)}


class Breeder:
    """14: subprocesses that detach, a fork bomb, and sockets to the host and the internet."""

    manifest = hostile("breeder")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        try:  # a detached grandchild in its own session, meant to outlive us
            subprocess.Popen(["sleep", MARKER_SECONDS], start_new_session=True)
            found["detached"] = True
        except OSError as exc:
            found["detached"] = f"refused: {exc.strerror}"
        forks = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", MARKER_SECONDS])
                forks += 1
        except OSError as exc:
            found["fork_refused"] = exc.strerror
        found["forks"] = forks
        for name, address in (("host_port", ("127.0.0.1", world_id)), ("internet", ("1.1.1.1", 80))):
            try:
                with socket.create_connection(address, timeout=0.5):
                    found[name] = "connected"
            except OSError as exc:
                found[name] = f"refused: {type(exc).__name__}"
        return found


class Hoarder:
    """15: thousands of open files, a huge file, and writes outside its working directory."""

    manifest = hostile("hoarder")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        handles = []
        try:
            for i in range(5000):
                handles.append(open(f"f{i}", "w"))  # noqa: SIM115 - the attack is to keep them open
        except OSError as exc:
            found["open_refused_after"] = len(handles)
            found["open_error"] = exc.strerror
        for handle in handles:
            handle.close()
        try:
            with open("huge.bin", "wb") as f:
                for _ in range(200):
                    f.write(b"\0" * (1 << 20))
            found["huge"] = "written"
        except OSError as exc:
            found["huge_refused"] = exc.strerror
        found["huge_size"] = os.path.getsize("huge.bin") if os.path.exists("huge.bin") else 0
        for target in outside_targets():
            try:
                with open(target, "w") as f:
                    f.write("evil")
                found[target] = "written"
            except OSError as exc:
                found[target] = f"refused: {exc.strerror}"
        return found


def outside_targets() -> list[str]:
    """Places outside the working directory a plugin must not be able to write: the host's /etc and /tmp, and the
    repository the host runs from."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return ["/etc/pixsim-evil", "/tmp/pixsim-evil", f"{repo}/pixsim-evil"]


class Snoop:
    """16: host source, environment secrets, inherited descriptors, the host's own process."""

    manifest = hostile("snoop")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        found: dict[str, Any] = {"env": dict(os.environ)}
        fds = {}
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is closed by now
                fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        found["fds"] = fds
        found["cwd"] = os.getcwd()
        readable = {}
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for path in [
            f"{repo}/pyproject.toml",
            f"{repo}/README.md",
            f"{repo}/.git/config",
            "/etc/shadow",
            "/etc/passwd",
        ]:
            try:
                with open(path, "rb") as f:
                    readable[path] = len(f.read(64))
            except OSError:
                pass
        found["readable"] = readable
        host_environ = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        host_environ[pid] = f.read(200).decode(errors="replace")
                except OSError:
                    pass
        found["other_environs"] = {pid: text for pid, text in host_environ.items() if int(pid) != os.getpid()}
        return found


class Sleeper:
    """17: an async hook that sleeps forever."""

    manifest = hostile("sleeper")

    @hookimpl
    async def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        await asyncio.sleep(3600)


class Flooder:
    """18: 100 MB down the channel (a frame claiming 100 MB, then the bytes)."""

    manifest = hostile("flooder")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        chunk = b"[" * (1 << 20)
        os.write(_channel_fd(), struct.pack(">I", 100 << 20))
        for _ in range(100):
            os.write(_channel_fd(), chunk)


BAD_FRAMES = {
    "not_json": b"{this is not json",
    "nan": b'{"type":"result","id":1,"results":[{"ok":true,"value":NaN}]}',
    "huge_number": b'{"type":"result","id":1,"results":[{"ok":true,"value":1e400}]}',
    "duplicate_keys": b'{"type":"result","id":1,"id":1,"results":[]}',
    "deep": b'{"type":"result","id":1,"results":[{"ok":true,"value":' + b"[" * 5000 + b"]" * 5000 + b"}]}",
    "not_an_object": b"[1,2,3]",
    "wrong_shape": b'{"type":"result","id":1,"results":"all good"}',
}


class Malformed:
    """23: answers a call with a malformed frame of the kind named in the call's world id (see BAD_FRAMES)."""

    manifest = hostile("malformed", "session:write")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        kind = sorted(BAD_FRAMES)[world_id]
        body = BAD_FRAMES[kind].replace(b'"id":1', f'"id":{_call_id()}'.encode())
        _raw_frame(body)
        signal.pause()  # never let the runner answer properly


def _call_id() -> int:
    """The id of the call being handled (what a forger would put in its fake answer)."""
    import gc

    from pixsim_hooks.runtime._runner import _Client

    return next(o.call_id for o in gc.get_objects() if isinstance(o, _Client))


class Forger:
    """24 and 27: answers with an id that was never asked for, a replay of an old answer, or an answer that claims
    to come from another plugin. The kind is chosen by the world id: 0 unknown id, 1 replay, 2 other plugin."""

    manifest = hostile("forger")
    answered: list[bytes] = []

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any] | None:
        call_id = _call_id()
        if world_id == 9:  # a normal answer, remembered to be replayed later
            Forger.answered.append(
                json.dumps({"type": "result", "id": call_id, "results": [{"ok": True, "value": {"good": 1}}]}).encode()
            )
            return {"good": 1}
        if world_id == 0:
            body = json.dumps(
                {"type": "result", "id": call_id + 1000, "results": [{"ok": True, "value": {"forged": 1}}]}
            )
            _raw_frame(body.encode())
        elif world_id == 1:
            _raw_frame(Forger.answered[-1])
        else:
            answer = {
                "type": "result",
                "id": call_id,
                "plugin_id": "polite",
                "results": [{"ok": True, "value": {"forged": 1}}],
            }
            _raw_frame(json.dumps(answer).encode())
        signal.pause()
        return None


class Impostor:
    """27 through capabilities: writes another plugin's flag and asks for a world it was not enabled in."""

    manifest = hostile("impostor", "session:write", "session:read")

    @hookimpl
    async def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        session_id = world_id  # the test passes the session id here
        for key in ("plugin:polite:x", "x"):
            try:
                await ctx.session.set_flag(session_id, key, "mine")
                found[key] = "written"
            except Exception as exc:
                found[key] = type(exc).__name__
        try:
            await ctx.world.get_world(1)
            found["world"] = "read"
        except Exception as exc:
            found["world"] = type(exc).__name__
        return found


class Crasher:
    """Dies on every call (a crash loop)."""

    manifest = hostile("crasher")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        os._exit(3)


class Hangup:
    """11, 12: closes its end of the channel (the host reads end-of-file, as from a process that exited), then
    spins with SIGTERM ignored: a host that waited for such a process to exit would wait forever."""

    manifest = hostile("hangup")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        fd = _channel_fd()
        socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RDWR)
        os.close(fd)
        while True:
            pass


class Phoenix:
    """Registers a condition; dies once when asked (world id 13) and must come back with its condition."""

    manifest = hostile("phoenix", "behavior:extend_conditions")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_condition_evaluator("always", lambda ctx, params, view: True)

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any]:
        if world_id == 13:
            os._exit(1)
        return {"pid": os.getpid()}


class Scribbler:
    """Effects that stage writes and then attack, by ``params["attack"]``: the writes must not land."""

    manifest = hostile("scribbler", "behavior:extend_effects")

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        ctx.behavior.register_effect_handler("scribble", self.scribble)

    @staticmethod
    def scribble(ctx: Any, params: Any, view: Any, writer: Any) -> None:
        writer.set_flag("x", 1)
        writer.adjust_relationship(view.npc_key, "trust", 5)
        attack = params.get("attack")
        if attack == "flood":
            os.write(_channel_fd(), struct.pack(">I", 100 << 20) + b"[" * (1 << 20))
            signal.pause()
        elif attack == "malformed":
            _raw_frame(b'{"type":"result","id":' + str(_call_id()).encode() + b',"results":[{"ok":true,"value":NaN}]}')
            signal.pause()
        elif attack == "crash":
            os._exit(1)
        elif attack == "raise":
            raise RuntimeError("after staging two writes")
        elif attack == "spin":
            while True:
                pass


# -- 37: valid JSON, out of the contract of what was asked ------------------------------------------------------------
ANSWERS: dict[str, Any] = {
    "huge_int": 10**400,  # valid JSON (the parser takes integers up to 4300 digits); math.isfinite() overflows on it
    "huge_float": 1e308,  # finite, and no NaN: but no multiplier a score can take
    "negative": -2.0,
    "string": "2.0",
    "bool": True,  # a bool where a number is due (True is an int to Python)
    "dict": {"ok": True},  # an object where a bool is due
    "ten_thousand": [f"activity:{i}" for i in range(10_000)],
    "long_id": ["activity:" + "x" * 5000],
    "list": [1, 2],
    "two": 2.5,  # in range, for the controls
    "true": True,
    "none": None,
    "picnic": ["activity:picnic"],
    "defaults": {"defaultTier": "x"},
    # effects: staged writes (the plugin-side writer would refuse these; the Liar answers them itself)
    "writes": {"flags": {"x": 1}, "relationships": {"npc:5": {"trust": 5}}},
    "huge_delta": {"relationships": {"npc:5": {"trust": 10**400}}},
    "leading_zero_npc": {"relationships": {"npc:05": {"trust": 1}}},
    "arabic_digit_npc": {"relationships": {"npc:\u0665": {"trust": 1}}},
    "unknown_metric": {"relationships": {"npc:5": {"love": 1}}},
    "huge_flag": {"flags": {"x": 2**60}},
    "other_key": {"flags": {"x": 1}, "notes": "hi"},
}
ANSWER_KEYS = sorted(ANSWERS)
DEFAULTS_BASE = 1000  # provide_simulation_defaults(world_id=DEFAULTS_BASE + i) answers ANSWERS[ANSWER_KEYS[i]]


class Liar:
    """37: every extension kind and behavior hook, answering whatever the caller names, valid JSON all of it.

    The answer is named by: ``params["answer"]`` (condition ``claims``, effect ``writes``), the view's
    ``world_meta["answer"]`` (scoring factor ``weighs``: a world's meta picks it in a real tick), the NPC's name
    (``suggest_activities``) and ``world_id - DEFAULTS_BASE`` as an index into ANSWER_KEYS
    (``provide_simulation_defaults``). Unknown names answer null (honest: "nothing")."""

    manifest = hostile(
        "liar",
        "behavior:extend_conditions",
        "behavior:extend_scoring",
        "behavior:extend_effects",
        "behavior:suggest_activities",
    )

    @hookimpl
    def register_behavior(self, ctx: Any) -> None:
        # Effects: the runner would answer what the plugin-side writer staged (and that writer checks values);
        # an attacker controls its own process, so the Liar answers whatever its effect returns instead.
        from pixsim_hooks.runtime import _runner

        _runner.PluginRunner._effect = lambda runner, fn, args, index: fn(runner.ctx, *args, None)  # type: ignore[method-assign]
        # Three names: a condition and a scoring factor of one name would share one full id (plugin:liar:<name>).
        ctx.behavior.register_condition_evaluator("claims", lambda ctx, params, view: ANSWERS.get(params["answer"]))
        ctx.behavior.register_scoring_factor(
            "weighs", lambda ctx, activity, view: ANSWERS.get(view.world_meta["answer"])
        )
        ctx.behavior.register_effect_handler("writes", lambda ctx, params, view, writer: ANSWERS.get(params["answer"]))

    @hookimpl
    def suggest_activities(self, ctx: Any, world_id: int, npc: Any, session: Any) -> Any:
        return ANSWERS.get(npc.name)

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> Any:
        index = world_id - DEFAULTS_BASE
        return ANSWERS[ANSWER_KEYS[index]] if 0 <= index < len(ANSWER_KEYS) else None


# -- 24, 38: frames nobody asked for ----------------------------------------------------------------------------------
def _result_frame(call_id: int, value: Any) -> bytes:
    body = json.dumps({"type": "result", "id": call_id, "results": [{"ok": True, "value": value}]}).encode()
    return struct.pack(">I", len(body)) + body


class Chatter:
    """Writes frames the host did not ask for; what it does is chosen by ``provide_simulation_defaults``'s world id:

    - 0: answers the call and, in the same write, a forged answer to the host's next request (two frames for one
      request; the forged one says ``{"forged": 1}``), then stays silent;
    - 1: answers the call honestly ({"pid", "cwd"}); later, once the test creates ``go`` in its working directory
      (the host awaits nothing by then), writes a forged answer to the host's next request;
    - 2: answers honestly;
    - 3: in one write, a capability request and a forged answer to the call (a second frame for the request the
      host has not even answered yet), then stays silent.
    """

    manifest = hostile("chatter")

    @hookimpl
    def provide_simulation_defaults(self, ctx: Any, world_id: int) -> dict[str, Any] | None:
        call_id = _call_id()
        honest = {"pid": os.getpid(), "cwd": os.getcwd()}
        if world_id == 0:
            answer = {"type": "result", "id": call_id, "results": [{"ok": True, "value": honest}]}
            body = json.dumps(answer).encode()
            os.write(_channel_fd(), struct.pack(">I", len(body)) + body + _result_frame(call_id + 1, {"forged": 1}))
            signal.pause()
        if world_id == 1:
            threading.Thread(target=_chatter_later, args=(call_id + 1,), daemon=True).start()
        if world_id == 3:
            request = {"type": "cap", "id": 10**6, "call": call_id, "item": 0, "capability": "log", "member": "info"}
            body = json.dumps(request | {"args": ["asked"]}).encode()
            os.write(_channel_fd(), struct.pack(">I", len(body)) + body + _result_frame(call_id, {"forged": 1}))
            signal.pause()
        return honest


def _chatter_later(next_call_id: int) -> None:
    """Wait for the test's go-ahead (a file: the test holds the host idle meanwhile), then speak unasked."""
    go = Path("go")
    for _ in range(3000):  # a bound of 30 s for a test that fails before it says go
        if go.exists():
            os.write(_channel_fd(), _result_frame(next_call_id, {"forged": 1}))
            return
        time.sleep(0.01)

"""Starting, talking to and killing the child process of an ``isolation: process`` plugin.

The child gets: a clean environment; no inherited descriptor but its end of a socket pair; its own session and
process group; rlimits (address space, CPU, open files, file size, processes, no core) set before plugin code runs;
a non-root uid when the host is root; its own working directory (removed afterwards). Where the machine has
bubblewrap it also gets no network, its own PID namespace (nothing it forks survives it) and a filesystem view of
only the interpreter, the packages it imports and its working directory, all read-only but the last; with only
util-linux ``unshare``, no network and its own PID namespace. What is in force is detected once and logged.

The host never blocks on a child: reads and writes go through asyncio streams, every exchange has a deadline, and
a missed deadline, an oversized or malformed frame, an unexpected message or a frame nobody asked for kills the
whole process group.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import structlog

from pixsim_hooks.plugin import PluginCrashed, PluginLoadError, ProcessRuntime, ProtocolError
from pixsim_hooks.runtime._descriptors import ProcessPlugin
from pixsim_hooks.runtime._protocol import FRAME_HEADER, dumps, loads

__all__ = [
    "ChildProcess",
    "SandboxKind",
    "detect_sandbox",
    "WORKDIR_PREFIX",
    "import_roots",
    "sweep_workdirs",
    "unconfinable_reason",
]

_log = structlog.get_logger("pixsim_hooks.sandbox")
NOBODY = 65534
_DEFAULT_PROCESSES = 32
EXIT_WAIT_S = 5.0  # how long a crash report waits for the exit code of a child that closed its channel


class SandboxKind:
    BWRAP = "bubblewrap"
    UNSHARE = "unshare"
    NONE = "none"


def _works(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def detect_sandbox() -> str:
    """The strongest confinement this machine supports, checked once by running it."""
    bwrap = shutil.which("bwrap")
    probe = ["--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--dev", "/dev"]
    probe += ["--perms", "0755", "--size", "65536", "--tmpfs", "/tmp", "true"]  # the options we use, not just any
    if bwrap and _works([bwrap, *probe]):
        kind = SandboxKind.BWRAP
    elif (unshare := shutil.which("unshare")) and _works([unshare, "--net", "--pid", "--fork", "--kill-child", "true"]):
        kind = SandboxKind.UNSHARE
    else:
        kind = SandboxKind.NONE
    in_force = {
        SandboxKind.BWRAP: "no network, own PID namespace, read-only minimal filesystem view",
        SandboxKind.UNSHARE: "no network, own PID namespace (no filesystem view: install bubblewrap for one)",
        SandboxKind.NONE: "rlimits, uid and clean environment only (install bubblewrap for more)",
    }[kind]
    _log.info("plugin sandbox detected", sandbox=kind, in_force=in_force, drops_to_uid=NOBODY if _root() else None)
    return kind


def _root() -> bool:
    return os.geteuid() == 0


@functools.cache
def unconfinable_reason(kind: str) -> str | None:
    """Why plugin processes cannot be confined as promised on this machine, or None.

    Run as root, a child drops to uid 65534 before plugin code runs. bubblewrap builds a filesystem view that
    uid can read; without it the child sees the real one, and when the interpreter lives where that uid cannot
    read (say under /root), every later import would fail. Running the plugin as root instead would break the
    promise, so such a host refuses process plugins (fail closed) and says how to fix it."""
    if kind == SandboxKind.BWRAP or not _root():
        return None
    stdlib, site = sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]
    probe = f"import os; os.listdir({stdlib!r}); os.listdir({site!r})"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", probe],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            timeout=10,
            check=False,
            cwd="/",
        )
        readable = done.returncode == 0
    except PermissionError:  # it cannot even start the interpreter
        readable = False
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not check that uid {NOBODY} can run the interpreter ({exc})"
    if not readable:
        return (
            f"uid {NOBODY} cannot run the Python installation ({sys.executable} -> {sys.base_prefix}) and "
            "bubblewrap is not available: install bubblewrap (Debian: apt-get install bubblewrap), or install "
            "Python where that uid can read it"
        )
    return None


def import_roots(target: str) -> tuple[list[str], list[str]]:
    """(``sys.path`` entries, paths to make readable) for the child to import ``module:attr`` as the host would:
    the directory holding the plugin's top-level package on the path, and only that package readable (not its
    neighbours: the host's sources and files beside it stay out of the child's view). Found without importing."""
    top = target.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ModuleNotFoundError(f"plugin module {top!r} not found")
    if spec.submodule_search_locations:  # a package
        locations = [str(Path(p)) for p in spec.submodule_search_locations]
        return sorted({str(Path(p).parent) for p in locations}), locations
    if spec.origin is None:
        raise ModuleNotFoundError(f"plugin module {top!r} has no location")
    return [str(Path(spec.origin).parent)], [spec.origin]


def _package_dirs(names: Sequence[str]) -> list[str]:
    dirs: list[str] = []
    for name in names:
        module = sys.modules.get(name) or __import__(name)
        dirs.extend(str(Path(p)) for p in getattr(module, "__path__", []))
    return dirs


_SYSTEM = ("/usr", "/bin", "/lib", "/lib64", "/sbin")


def _bwrap_argv(workdir: str, readable: Sequence[str]) -> list[str]:
    argv = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    for path in _SYSTEM:
        argv += ["--ro-bind-try", path, path]
    # /tmp first, so that what is bound below it (a checkout under /tmp, the working directory) is not hidden by it.
    # Root's and small: the plugin writes in its working directory, and a tmpfs it could fill would be host memory.
    argv += ["--perms", "0755", "--size", str(1 << 20), "--tmpfs", "/tmp"]
    # Directories above the bound paths are made by bwrap; they must be traversable once the child is not root.
    parents = sorted({str(p) for path in readable for p in Path(path).parents if str(p) not in ("/", "/tmp")})
    for parent in parents:
        if parent not in _SYSTEM and not any(parent == r or parent.startswith(r + "/") for r in readable):
            argv += ["--perms", "0755", "--dir", parent]
    for path in readable:
        argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", workdir, workdir, "--chdir", workdir]
    return [*argv, "--"]


def _outermost(paths: set[str]) -> list[str]:
    """The paths not inside another of them (binding both would shadow the inner one's view of nothing)."""
    ordered = sorted(paths)
    return [p for p in ordered if not any(p != q and p.startswith(q + "/") for q in ordered)]


class _Frames(asyncio.Protocol):
    """The host's end of a child's socket: whole frames, the size cap applied at the header, and no frame that was
    not asked for.

    The conversation is strict alternation: each message the host sends is owed exactly one answer (:meth:`expect`
    counts it) and nothing else may arrive. A frame whose header announces more than the cap, or a frame that
    arrives when no answer is owed (before anything was asked, or a second frame for one request), stops reading at
    once and the caller kills the child: a flooding child costs the host at most one read, and nothing that came
    unasked is believed -- not even an answer that arrived in the same read as the violation. A violation while an
    exchange is outstanding is raised to it; otherwise (the host is not waiting) ``on_violation`` reports it, so
    the child is killed then and there instead of being believed at the next call."""

    def __init__(self, max_bytes: int, on_violation: Callable[[ProtocolError], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.closed = False
        self.paused = False
        self.received = 0  # bytes read from the child, ever (a flood must be cut at its header: tests check)
        self._on_violation = on_violation
        self._owed = 0  # answers the host waits for: one per message sent, and it sends one at a time
        self._outstanding = False  # an exchange is in progress: a message was sent and its answer not yet taken
        self._stopped = False
        self._buffer = bytearray()
        self._frames: collections.deque[bytes] = collections.deque()
        self._error: ProtocolError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._transport: asyncio.Transport | None = None

    @property
    def error(self) -> ProtocolError | None:
        return self._error

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def expect(self) -> None:
        """The host is about to send a message: one more answer is owed (and may arrive from now on)."""
        self._owed += 1
        self._outstanding = True

    def data_received(self, data: bytes) -> None:
        if self._error is not None or self._stopped:
            return
        self.received += len(data)
        buffer = self._buffer
        buffer += data
        while len(buffer) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(buffer)
            if size > self.max_bytes:
                self._fail(ProtocolError(f"sent a frame of {size} bytes (cap {self.max_bytes})"))
                return
            if self._owed == 0:  # judged at the header: the body of a frame nobody asked for is not even awaited
                self._fail(ProtocolError("sent a frame nobody asked for (no answer was awaited)"))
                return
            end = FRAME_HEADER.size + size
            if len(buffer) < end:
                break
            self._owed -= 1
            self._frames.append(bytes(buffer[FRAME_HEADER.size : end]))
            del buffer[:end]
        self._wake()

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        self._buffer.clear()
        self._frames.clear()  # an answer that came with the violation is not believed either
        if self._transport is not None:
            self._transport.pause_reading()
        if self._outstanding:
            self._wake()  # the exchange in progress raises it
        elif self._on_violation is not None:
            self._on_violation(error)

    def stop(self) -> None:
        """The child is being killed: whatever it still sends is neither read nor reported."""
        self._stopped = True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    async def drained(self) -> None:
        while self.paused and not self.closed:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    async def next_frame(self, deadline: float | None = None) -> bytes:
        """The next whole frame; TimeoutError at ``deadline`` (loop time). A timer on the waiter, not
        ``asyncio.timeout``: this is every round trip, and the timer is a third of the cost."""
        while not self._frames:
            if self._error is not None:
                raise self._error
            if self.closed:
                raise EOFError
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_at(deadline, _expire, waiter) if deadline is not None else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
        self._outstanding = self._owed > 0
        return self._frames.popleft()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


@dataclass(slots=True)
class _Limits:
    memory_mb: int
    cpu_seconds: int
    open_files: int
    file_size_mb: int
    processes: int = _DEFAULT_PROCESSES


WORKDIR_PREFIX = "pixsim-plugin-"
"""A plugin process's working directory: ``<tmp>/pixsim-plugin-<host pid>-<label>-<random>``, removed when it stops."""
_swept = False


def sweep_workdirs(directory: str) -> list[str]:
    """Remove the plugin working directories in ``directory`` that a host which is no longer running left behind
    (one killed before it could stop its plugins). A directory whose host is alive — this one, another checkout's —
    is never touched; nor is anything not named as ours. Returns what was removed."""
    removed = []
    for entry in os.scandir(directory):
        host_pid, _, _ = entry.name.removeprefix(WORKDIR_PREFIX).partition("-")
        if (
            not entry.name.startswith(WORKDIR_PREFIX)
            or not host_pid.isdigit()
            or not entry.is_dir(follow_symlinks=False)
        ):
            continue
        if _running(int(host_pid)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _sweep_once() -> None:
    """At the first plugin process a host starts: what an earlier, killed host left in the temporary directory."""
    global _swept
    if _swept:
        return
    _swept = True
    removed = sweep_workdirs(tempfile.gettempdir())
    if removed:
        _log.info("plugin working directories of stopped hosts removed", count=len(removed))


class ChildProcess:
    """One running child: its process, its channel, its working directory."""

    def __init__(
        self,
        plugin_label: str,
        plugin: ProcessPlugin,
        max_bytes: int,
        spin_us: int = 0,
        on_violation: Callable[[ProtocolError], None] | None = None,
    ) -> None:
        self.label = plugin_label
        self.spin_us = spin_us
        self.plugin = plugin
        self.runtime = plugin.runtime or ProcessRuntime()
        self.max_bytes = max_bytes
        self.proc: asyncio.subprocess.Process | None = None
        self.sandbox = SandboxKind.NONE
        self._on_violation = on_violation
        self._channel: _Frames | None = None
        self._received_before = 0  # bytes read on channels already closed
        self._workdir: str | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def bytes_read(self) -> int:
        """How many bytes the host has read from this child, over its whole life."""
        return self._received_before + (self._channel.received if self._channel is not None else 0)

    async def start(self) -> None:
        self.sandbox = await asyncio.to_thread(detect_sandbox)  # runs probes once: not on the event loop
        refusal = await asyncio.to_thread(unconfinable_reason, self.sandbox)
        if refusal is not None:
            raise PluginLoadError(f"plugin {self.label!r} cannot run in a process here: {refusal}")
        _sweep_once()
        label = re.sub(r"[^A-Za-z0-9_-]", "_", self.label)[:40]
        self._workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-{label}-")
        os.chmod(self._workdir, 0o700)
        uid = NOBODY if _root() else None
        if uid is not None:
            os.chown(self._workdir, uid, uid)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = await self._spawn(child, uid)
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        _, self._channel = await loop.create_connection(lambda: _Frames(self.max_bytes, self._violated), sock=parent)
        _log.info("plugin process started", plugin_id=self.label, pid=self.proc.pid, sandbox=self.sandbox)

    async def _spawn(self, child: socket.socket, uid: int | None) -> asyncio.subprocess.Process:
        assert self._workdir is not None
        r = self.runtime
        plugin = self.plugin
        paths, plugin_files = import_roots(plugin.target) if plugin.target is not None else ([], [])
        spec = {
            "target": plugin.target,
            "command": list(plugin.command),
            "paths": paths,
            "fd": child.fileno(),
            "uid": uid,
            "workdir": self._workdir,
            "max_bytes": self.max_bytes,
            "spin_us": self.spin_us,
            "limits": asdict(_Limits(r.memory_mb, r.cpu_seconds, r.open_files, r.file_size_mb)),
        }
        argv = [sys.executable, "-I", "-m", "pixsim_hooks.runtime._child", json.dumps(spec)]
        if self.sandbox == SandboxKind.BWRAP:
            host_api = _package_dirs(("pixsim_hooks", "hookspecs", "proxies"))  # what the plugin imports of us
            readable = _outermost({sys.base_prefix, sys.prefix, *plugin_files, *plugin.readable, *host_api})
            argv = _bwrap_argv(self._workdir, readable) + argv
        elif self.sandbox == SandboxKind.UNSHARE:
            argv = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--", *argv]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self._workdir, "PYTHONDONTWRITEBYTECODE": "1"}
        log = open(os.path.join(self._workdir, "plugin.log"), "ab")  # noqa: SIM115, ASYNC230 - a local file, handed to the child
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=self._workdir,
                close_fds=True,
                pass_fds=(child.fileno(),),  # the only descriptor it inherits (besides 0-2)
                start_new_session=True,  # own session and process group: one killpg takes all of it
            )
        finally:
            log.close()

    # -- the channel ----------------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        channel = self._channel
        if channel is None or channel.closed or not self.alive:
            raise PluginCrashed(f"plugin {self.label!r}: its process is not running", plugin_id=self.label)
        body = dumps(message, self.max_bytes)
        if channel.error is not None:  # it already broke the protocol (unasked): it is told nothing more
            raise ProtocolError(f"plugin {self.label!r}: {channel.error}", plugin_id=self.label)
        channel.expect()  # before the write: the answer may arrive before this coroutine runs again
        channel.write(FRAME_HEADER.pack(len(body)) + body)
        if channel.paused:  # the child is not reading: wait for room (bounded by the caller's deadline)
            await channel.drained()

    async def recv(self, deadline: float | None = None) -> dict[str, Any]:
        if self._channel is None:
            raise PluginCrashed(f"plugin {self.label!r}: its process is not running", plugin_id=self.label)
        try:
            body = await self._channel.next_frame(deadline)
        except EOFError:
            code = await self._exit_code(deadline)
            raise PluginCrashed(
                f"plugin {self.label!r}: its process closed the channel (exit code {code})", plugin_id=self.label
            ) from None
        except ProtocolError as exc:
            raise ProtocolError(f"plugin {self.label!r}: {exc}", plugin_id=self.label) from None
        return loads(body, max_bytes=self.max_bytes)

    async def _exit_code(self, deadline: float | None) -> int | None:
        """The exit code of a child that closed its channel: it is exiting, but may not be reaped yet (a loaded
        machine takes a while). Never past the call's deadline: a child that closes its channel and goes on
        running must not hold the call (it is killed right after)."""
        if self.proc is None:
            return None
        loop = asyncio.get_running_loop()
        until = loop.time() + EXIT_WAIT_S if deadline is None else min(deadline, loop.time() + EXIT_WAIT_S)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(until):
                return await self.proc.wait()
        return self.proc.returncode

    def _violated(self, error: ProtocolError) -> None:
        if self._on_violation is not None:
            self._on_violation(ProtocolError(f"plugin {self.label!r}: {error}", plugin_id=self.label))

    def log_tail(self, limit: int = 2000) -> str:
        """The end of what the child printed (its stdout and stderr go to a file in its working directory)."""
        if self._workdir is None:
            return ""
        try:
            with open(os.path.join(self._workdir, "plugin.log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # -- ending -------------------------------------------------------------------------------------------
    async def kill(self) -> None:
        """Kill the whole process group (and, with a PID namespace, everything it forked), reap it, clean up."""
        proc = self.proc
        if self._channel is not None:
            self._channel.stop()  # a dying child's last frames are no one's answers, and no violation to report
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                # Only when the group is gone or not ours: Popen.kill() polls the child first, which can reap it
                # before asyncio's child watcher does (the watcher then reports exit code 255 for it).
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        if proc is not None:
            await proc.wait()
        self._close()

    def _close(self) -> None:
        if self._channel is not None:
            self._received_before += self._channel.received
            self._channel.close()
        self._channel = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

"""Entry point of a sandboxed plugin process: ``python -I -m pixsim_hooks.runtime._child '<spec json>'``.

For a plugin in another language (``ProcessPlugin(command=...)``) this only confines the process, then executes the
command in its place with ``PIXSIM_PROTOCOL_FD`` naming the channel's descriptor.

Started by the host (:mod:`pixsim_hooks.runtime._sandbox`), inside bubblewrap or ``unshare`` when the machine has them.
Before any plugin code is imported this closes every inherited descriptor but the channel, sets the resource limits,
moves to the plugin's working directory and, when started as root, drops to an unprivileged uid for good. Then it
imports the plugin and answers the host's messages on the channel until told to stop.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
from typing import Any

from pixsim_hooks.plugin import ProtocolError
from pixsim_hooks.runtime._protocol import FRAME_HEADER, dumps
from pixsim_hooks.runtime._runner import PluginRunner

__all__ = ["SocketChannel", "main"]

_MiB = 1024 * 1024


class SocketChannel:
    """Frames over a stream socket: 4-byte big-endian length, then that many bytes of JSON."""

    def __init__(self, sock: socket.socket, max_bytes: int, spin_ns: int = 0) -> None:
        self._sock = sock
        self._max = max_bytes
        self._spin_ns = spin_ns
        self._buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        body = dumps(message)
        self._sock.sendall(FRAME_HEADER.pack(len(body)) + body)

    def recv(self) -> dict[str, Any]:
        if not self._buffer:
            self._wait()
        (size,) = FRAME_HEADER.unpack(self._take(FRAME_HEADER.size))
        if size > self._max:
            raise ProtocolError(f"frame of {size} bytes exceeds the cap")
        # The host is not the child's adversary: plain parsing here (the host parses what the child sends strictly).
        message = json.loads(self._take(size))
        if type(message) is not dict:
            raise ProtocolError("a message must be a JSON object")
        return message

    def _wait(self) -> None:
        """Block until bytes arrive. A waiting child first polls for ``spin_ns``: a sleeping process takes ~25 us
        to wake on this kind of machine, twice per round trip, and the host's next call usually follows at once
        (a tick calls per NPC). The cost is up to that much CPU after each answer."""
        if self._spin_ns:
            deadline = time.perf_counter_ns() + self._spin_ns
            self._sock.setblocking(False)
            try:
                while time.perf_counter_ns() < deadline:
                    try:
                        self._fill(self._sock.recv(1 << 16))
                        return
                    except BlockingIOError:
                        continue
            finally:
                self._sock.setblocking(True)
        self._fill(self._sock.recv(1 << 16))

    def _fill(self, chunk: bytes) -> None:
        if not chunk:
            raise EOFError("the host closed the channel")
        self._buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill(self._sock.recv(max(n - len(self._buffer), 1 << 16)))
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


def _limit(kind: int, value: int) -> None:
    resource.setrlimit(kind, (value, value))


def _confine(spec: dict[str, Any]) -> None:
    fd = spec["fd"]
    os.closerange(3, fd)
    os.closerange(fd + 1, 65536)  # whatever an exec wrapper may have let through
    limits = spec["limits"]
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_AS, limits["memory_mb"] * _MiB)
    _limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    _limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] * _MiB)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing us
    os.chdir(spec["workdir"])
    uid = spec.get("uid")
    if uid is not None:
        _limit(resource.RLIMIT_NPROC, limits["processes"])  # counted per uid: only binding once we are not root
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise SystemExit("could not drop privileges")


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    _confine(spec)
    if spec.get("command"):  # a plugin in another language: confined as above, then it takes over this process
        os.set_inheritable(spec["fd"], True)
        command = spec["command"]
        os.execvpe(command[0], command, {**os.environ, "PIXSIM_PROTOCOL_FD": str(spec["fd"])})
    sys.path[:0] = spec["paths"]
    module_name, _, attr = spec["target"].partition(":")
    plugin: object = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        plugin = getattr(plugin, part)
    channel = SocketChannel(socket.socket(fileno=spec["fd"]), spec["max_bytes"], spec.get("spin_us", 0) * 1000)
    runner = PluginRunner(plugin, channel)
    if runner.serves_routes:
        # Only a plugin that serves routes loads the web stack (it imported FastAPI for its router anyway).
        from pixsim_hooks.runtime._plugin_routes import RouteServer

        runner.routes = RouteServer()
    try:
        runner.serve()
    except EOFError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Entry point of a sandboxed plugin process: ``python -I -m pixsim_hooks._child '<spec json>'``.

Started by the host (:mod:`pixsim_hooks._sandbox`), inside bubblewrap or ``unshare`` when the machine has them.
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
from typing import Any

from pixsim_hooks._exceptions import ProtocolError
from pixsim_hooks._plugin_runner import PluginRunner
from pixsim_hooks._protocol import FRAME_HEADER, dumps, loads

__all__ = ["SocketChannel", "main"]

_MiB = 1024 * 1024


class SocketChannel:
    """Frames over a stream socket: 4-byte big-endian length, then that many bytes of JSON."""

    def __init__(self, sock: socket.socket, max_bytes: int) -> None:
        self._sock = sock
        self._max = max_bytes

    def send(self, message: dict[str, Any]) -> None:
        body = dumps(message)
        self._sock.sendall(FRAME_HEADER.pack(len(body)) + body)

    def recv(self) -> dict[str, Any]:
        (size,) = FRAME_HEADER.unpack(self._exactly(FRAME_HEADER.size))
        if size > self._max:
            raise ProtocolError(f"frame of {size} bytes exceeds the cap")
        return loads(self._exactly(size), max_bytes=self._max)

    def _exactly(self, n: int) -> bytes:
        chunks, need = [], n
        while need:
            chunk = self._sock.recv(min(need, 1 << 16))
            if not chunk:
                raise EOFError("the host closed the channel")
            chunks.append(chunk)
            need -= len(chunk)
        return b"".join(chunks)


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
    sys.path[:0] = spec["paths"]
    module_name, _, attr = spec["target"].partition(":")
    plugin: object = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        plugin = getattr(plugin, part)
    channel = SocketChannel(socket.socket(fileno=spec["fd"]), spec["max_bytes"])
    try:
        PluginRunner(plugin, channel).serve()
    except EOFError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""A real ``redis-server`` a test starts for itself on a free loopback port, with no disk state, stopped after.

Ready is read from the server itself (its "Ready to accept connections" line), not waited for with a clock. The port
is found by binding port 0 and closing it; should another process take it in between, the server says so and the
start is tried again on another port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

READY = "Ready to accept connections"
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _drain(output: IO[str]) -> None:
    with output:
        output.read()


class RedisServer:
    """``redis-server`` on ``127.0.0.1:<port>``; ``url`` for clients; ``stop()`` (also on ``with`` exit)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        """On ``port`` (a restart of a server a test stopped), or on a free one."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run .ci/system-packages.sh test")
        for _ in range(5 if port is None else 1):
            self.port = port if port is not None else _free_port()
            command = [
                binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(directory), "--loglevel", "notice",
            ]  # fmt: skip
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if self._ready():
                self.url = f"redis://127.0.0.1:{self.port}/0"
                return
            self.stop()
        raise RuntimeError(
            f"redis-server did not start (port {port})" if port else "redis-server did not start on 5 ports"
        )

    def _ready(self) -> bool:
        output = self.process.stdout
        assert output is not None
        # The loop ends at the line, or when the server exits (the port was taken meanwhile, say).
        if not any(READY in line for line in output):
            return False
        # Read on in the background: a server whose output nobody reads would block once the pipe is full.
        self._reader = threading.Thread(target=_drain, args=(output,), daemon=True)
        self._reader.start()
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join(timeout=10)  # at the end of the output now that the server is gone; it closes the pipe
        elif self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    with RedisServer(directory) as server:
        yield server

"""A real HTTP server for tests: an ASGI app served by uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

__all__ = ["ServedApp"]


class ServedApp:
    """``ServedApp(app)`` serves ``app`` at ``.url`` (``http://127.0.0.1:<port>/``) until ``.stop()``.

    The listening socket is bound here, before the server's thread starts: the port is known at once and a client
    may connect straight away (the kernel queues the connection until uvicorn accepts it), so nothing waits or polls
    for the server to come up."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        config = uvicorn.Config(app, log_config=None, log_level="warning")
        config.timeout_graceful_shutdown = 1
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the server's thread (bounded: a stuck app is left to the daemon thread)."""
        self._server.should_exit = True
        self._thread.join(5)
        self._socket.close()

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""Real HTTP servers for tests: a uvicorn server on a free local port, in a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class ServedApp:
    """``ServedApp(app)`` serves ``app`` at ``.url`` until ``.stop()``."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning")
        config.timeout_graceful_shutdown = 1
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.002)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)

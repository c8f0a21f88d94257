"""schemathesis against the app: every operation of the OpenAPI schema (plugin routes included), all checks, the
stateful phase, a fixed seed and a bounded number of examples. Any finding fails the test and is printed.

The app runs in this process, served by uvicorn on a port of its own in a background thread; schemathesis's CLI
drives it over real HTTP. CI runs the same command once more with more examples (``.ci/schemathesis.sh``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from contrib_plugins import stealth
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings

TOKEN = "schemathesis-s3cret"
ST = Path(sys.executable).with_name("st")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'game.sqlite3'}", admin_token=TOKEN)
    app = create_app(settings, plugins=[stealth], entry_points=[])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no race for the port
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    started = threading.Event()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=10) as client:
            for _ in range(500):  # the server's own flag, polled with a bound (no sleep as synchronisation)
                if server.started:
                    started.set()
                    break
                thread.join(timeout=0.02)
            assert started.is_set(), "the server did not start"
            world = client.post("/worlds", json={"name": "Harbor"}).raise_for_status().json()
            client.post(f"/worlds/{world['id']}/npcs", json={"name": "Alex"}).raise_for_status()
            client.post("/sessions", json={"world_id": world["id"]}).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_schemathesis_finds_nothing_across_every_operation(served: str, tmp_path: Path) -> None:
    command = [
        str(ST),
        "run",
        f"{served}/openapi.json",
        "--checks=all",
        "--max-examples=15",
        "--seed=1",
        f"--header=Authorization: Bearer {TOKEN}",
        "--no-color",
    ]
    paths = httpx.get(f"{served}/openapi.json").raise_for_status().json()["paths"]
    operations = sum(len(item) for item in paths.values())
    assert any(path.startswith("/api/v1/plugins/stealth/") for path in paths)  # the plugin's routes are in it
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-2000:]
    assert f"Tested: {operations}" in done.stdout, done.stdout[-3000:]  # every operation was reached

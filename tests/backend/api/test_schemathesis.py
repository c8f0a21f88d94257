"""schemathesis against the app: every operation of the OpenAPI schema (plugin routes included), all checks, the
stateful phase, a fixed seed and a bounded number of examples. Any finding fails the test and is printed.

The app runs in this process, served by uvicorn on a port of its own in a background thread (``tests.servers``);
schemathesis's CLI drives it over real HTTP. CI runs the same command once more with more examples
(``.ci/schemathesis.sh``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contrib_plugins import stealth
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings
from tests.servers import ServedApp

TOKEN = "schemathesis-s3cret"
ST = Path(sys.executable).with_name("st")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'game.sqlite3'}", admin_token=TOKEN)
    server = ServedApp(create_app(settings, plugins=[stealth], entry_points=[]))
    try:
        with httpx.Client(base_url=f"{server.url}api/v1", timeout=10) as client:
            world = client.post("/worlds", json={"name": "Harbor"}).raise_for_status().json()
            client.post(f"/worlds/{world['id']}/npcs", json={"name": "Alex"}).raise_for_status()
            client.post("/sessions", json={"world_id": world["id"]}).raise_for_status()
        yield server.url.rstrip("/")
    finally:
        server.stop()


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

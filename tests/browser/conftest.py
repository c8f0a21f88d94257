"""Browser-test fixtures: Debian's Chromium and chromedriver (``make test`` installs them where missing), a real
uvicorn server on a free local port in a background thread, and a headless Chrome driven by selenium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pixsim_hooks import PluginManifest
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ADMIN_TOKEN = "browser-s3cret"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # we run as root in CI containers; Chromium refuses its sandbox there
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class Lantern:
    """A throwaway plugin for the page to list and switch."""

    manifest = PluginManifest(id="lantern", name="Lantern", version="1.0.0", trust="first_party")


@dataclass(frozen=True)
class LiveServer:
    url: str
    world_id: int

    def admin_api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium (and chromedriver beside it); tests that use it are marked ``needs("chromium")``."""
    return CHROMIUM


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'game.sqlite3'}", admin_token=ADMIN_TOKEN)
    app = create_app(settings, plugins=[Lantern()], entry_points=[])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no race for the port
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        _wait_until(lambda: server.started, what="the server to start")
        world = httpx.post(f"{url}/api/v1/worlds", json={"name": "Lighthouse", "meta": {}})
        yield LiveServer(url, world.raise_for_status().json()["id"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def browser(chromium: Path, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    # An explicit driver path keeps selenium from running Selenium Manager (which would download one).
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_until(condition: Any, *, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)

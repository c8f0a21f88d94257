"""Suite-wide rules: what a test needs from the machine, said by marker, and a clear failure where it is missing.

``@pytest.mark.needs("bubblewrap")`` (or ``"node"``, ``"chromium"``) on a test, a class or a module's ``pytestmark``:
when the machine lacks it, the test fails at set-up with one message naming what is missing and the command that
installs it. Nothing is skipped: a missing part is a red test, never a quiet pass. ``make test`` installs all of
them first (``.ci/system-packages.sh test``).

Tests own their processes: the ``no_leftover_processes`` fixture fails a test (and kills what it left) when a
process it started outlives it, looking only at this pytest process's own descendants (``tests/processes.py``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixsim_hooks.host import PluginHost, Settings, create_host
from pixsim_hooks.plugin import Storage
from tests import processes
from tests.redis_server import redis_server

INSTALL = ".ci/system-packages.sh test (what `make test` runs first)"


def _bubblewrap() -> bool:
    from pixsim_hooks.runtime import SandboxKind, detect_sandbox

    return detect_sandbox() == SandboxKind.BWRAP  # present and working with the options the host uses


NEEDS: dict[str, tuple[Callable[[], bool], str]] = {
    "bubblewrap": (_bubblewrap, "bubblewrap"),
    "node": (lambda: shutil.which("node") is not None, "nodejs"),
    "chromium": (lambda: Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists(), "chromium"),
    "redis-server": (lambda: shutil.which("redis-server") is not None, "redis-server"),
}


@functools.cache
def missing(need: str) -> str | None:
    """Why ``need`` is not met on this machine (with the fix), or None. Checked once per run."""
    present, package = NEEDS[need]
    if present():
        return None
    return f"this test needs {need}, which this machine lacks: run {INSTALL}, or apt-get install -y {package}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"needs(what): the test needs one of {sorted(NEEDS)} on the machine")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        for need in marker.args:
            if need not in NEEDS:
                raise pytest.UsageError(f"{item.nodeid}: unknown need {need!r}; known: {sorted(NEEDS)}")
            why = missing(need)
            if why is not None:
                pytest.fail(why, pytrace=False)


PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


@pytest.fixture(scope="session", autouse=True)
def _adopt_orphans() -> Iterator[None]:
    """Make this pytest process a child subreaper for the whole session.

    The leftover checks look only at this process's descendants. A process that a plugin detaches (its own
    session, its parent gone: ``Breeder`` in tests/runtime/hostile_plugins.py) is re-parented when its parent dies,
    normally to init, where it would drop out of our tree and outlive the test unseen. bubblewrap's PID namespace
    keeps such orphans inside the sandbox, but the fallback sandboxes (``unshare``, none) and the processes tests
    start themselves have no namespace. As a subreaper, this process adopts every orphan of its descendants
    instead, so the checks still see them (each check reaps those that have exited: ``processes.reap_adopted``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test when a process it started is still running after it (and kills that process). Request it
    before (or from) the fixtures that start processes, so that its check runs after their teardown."""
    before = processes.live_descendants()
    yield
    processes.assert_none_left(before)


# -- hosts -------------------------------------------------------------------------------------------------------
MakeHost = Callable[..., Awaitable[PluginHost]]


@pytest.fixture
def make_host() -> MakeHost:
    """``await make_host(plugin, ..., settings=..., storage=..., entry_points=...)`` → a loaded host."""

    async def build(
        *plugins: object,
        settings: Settings | None = None,
        storage: Storage | None = None,
        entry_points: Any = (),
        **settings_fields: Any,
    ) -> PluginHost:
        settings = settings or Settings(**settings_fields)
        host = create_host(settings, storage=storage, plugins=plugins, entry_points=entry_points)
        await host.load()
        return host

    return build


@pytest.fixture
async def storage(tmp_path: Any) -> AsyncIterator[Any]:
    """The real game store on a fresh SQLite file (the backend's SqlStorage)."""
    from pixsim_hooks.backend._database import create_engine, create_schema, create_sessionmaker
    from pixsim_hooks.backend._store import SqlStorage

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'core.sqlite3'}")
    await create_schema(engine)
    yield SqlStorage(create_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server of this test's own, on a free loopback port (``tests/redis_server.py``); its URL."""
    why = missing("redis-server")
    if why is not None:
        pytest.fail(why, pytrace=False)
    directory = tmp_path / "redis"
    directory.mkdir()
    with redis_server(directory) as server:
        yield server.url

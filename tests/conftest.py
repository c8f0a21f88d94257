"""Suite-wide rules: what a test needs from the machine, said by marker, and a clear failure where it is missing.

``@pytest.mark.needs("bubblewrap")`` (or ``"node"``, ``"chromium"``) on a test, a class or a module's ``pytestmark``:
when the machine lacks it, the test fails at set-up with one message naming what is missing and the command that
installs it. Nothing is skipped: a missing part is a red test, never a quiet pass. ``make test`` installs all of
them first (``.ci/system-packages.sh test``).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

INSTALL = ".ci/system-packages.sh test (what `make test` runs first)"


def _bubblewrap() -> bool:
    from pixsim_hooks._sandbox import SandboxKind, detect_sandbox

    return detect_sandbox() == SandboxKind.BWRAP  # present and working with the options the host uses


NEEDS: dict[str, tuple[Callable[[], bool], str]] = {
    "bubblewrap": (_bubblewrap, "bubblewrap"),
    "node": (lambda: shutil.which("node") is not None, "nodejs"),
    "chromium": (lambda: Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists(), "chromium"),
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

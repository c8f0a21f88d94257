"""``pixsim-hooks new-plugin``: the package it writes installs with ``pip install -e`` into a venv with this project,
passes its own tests (each test once per tier) and ``mypy --strict`` as it is, and is ruff-clean; a bad name or a
directory in use is refused in one line.

The venv is made the fast way that works offline: ``python -m venv --without-pip`` (a few milliseconds) plus a
``.pth`` file running ``site.addsitedir`` on this project's ``.venv`` site-packages, so the venv sees pixsim-hooks,
pytest, mypy, pip, hatchling and editables without downloading or copying anything; the plugin is then installed
into the venv itself with ``pip install -e --no-deps --no-build-isolation`` (its build backend comes from the chained
site-packages). The process tier's sandbox shows the child only its interpreter's prefixes and the plugin, so the
test kit adds such a chained site directory to the child's view (``pixsim_hooks.testing._isolation``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixsim_hooks.backend.cli import app

pytestmark = pytest.mark.needs("bubblewrap")  # the scaffolded tests' process tier runs the plugin sandboxed

# Tests per tier each kind's package starts with, and the tiers they run in: written out, not read from the templates.
TESTS = {"condition": 4, "effect": 6, "scoring": 3, "event": 3, "route": 2}


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the venv and the packages. pytest makes it 0700; the sandboxed child runs as uid 65534 under
    a root host and must read the plugin's package (bubblewrap binds it at the same path), so it is opened up."""
    root = tmp_path_factory.mktemp("new-plugin")
    root.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def venv(place: Path) -> Path:
    """A venv that sees this project's packages (see the module's docstring); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(place / "venv")], check=True, timeout=60)
    python = place / "venv" / "bin" / "python"
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_dir = subprocess.run([python, "-c", ask], capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site_dir) / "_pixsim_hooks_dev.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXSIM_", "PYTEST_"))}
    return subprocess.run([python, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def scaffolded(place: Path, venv: Path, kind: str) -> Path:
    """Scaffold ``my-<kind>`` through the CLI, install it editable into the venv, check it with mypy and ruff."""
    package = place / f"my-{kind}"
    result = CliRunner().invoke(app, ["new-plugin", f"my-{kind}", "--kind", kind, "--dir", str(package)])
    assert result.exit_code == 0, result.output
    installed = run(venv, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", ".", cwd=package)
    assert installed.returncode == 0, installed.stderr
    module = f"my_{kind}"
    typed = run(venv, "-m", "mypy", "--strict", "--cache-dir", str(place / ".mypy"), module, "tests", cwd=package)
    assert typed.stdout.strip().endswith("Success: no issues found in 2 source files"), typed.stdout
    ruff = Path(sys.executable).with_name("ruff")
    for check in (["check", "."], ["format", "--check", "."]):
        linted = subprocess.run([ruff, *check], cwd=package, capture_output=True, text=True, timeout=60)
        assert linted.returncode == 0, linted.stdout
    return package


def summary(result: subprocess.CompletedProcess[str]) -> str:
    """pytest's closing line, without its timing: ``12 passed``."""
    last = result.stdout.strip().splitlines()[-1]
    return re.sub(r"\s+in [\d.]+s.*$", "", last.strip("= "))


def test_a_condition_plugin_installs_and_passes_its_tests_in_all_three_tiers(place: Path, venv: Path) -> None:
    package = scaffolded(place, venv, "condition")
    result = run(venv, "-m", "pytest", "-p", "no:cacheprovider", "-v", cwd=package)
    assert summary(result) == f"{3 * TESTS['condition']} passed", result.stdout
    for tier in ("in_process", "process", "remote"):
        assert f"test_in_the_morning_follows_the_world_clock[{tier}-8-True] PASSED" in result.stdout


def test_a_route_plugin_passes_its_tests_in_all_three_tiers(place: Path, venv: Path) -> None:
    package = scaffolded(place, venv, "route")
    result = run(venv, "-m", "pytest", "-p", "no:cacheprovider", cwd=package)
    assert summary(result) == f"{3 * TESTS['route']} passed", result.stdout


@pytest.mark.parametrize("kind", ["effect", "scoring", "event"])
def test_each_other_kind_installs_type_checks_and_passes_in_process(place: Path, venv: Path, kind: str) -> None:
    package = scaffolded(place, venv, kind)
    result = run(venv, "-m", "pytest", "-p", "no:cacheprovider", "--pixsim-tier=in_process", cwd=package)
    assert summary(result) == f"{TESTS[kind]} passed, {2 * TESTS[kind]} deselected", result.stdout


def test_the_package_holds_the_entry_point_least_permissions_and_py_typed(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["new-plugin", "tide-watch", "--kind", "event", "--dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    package = tmp_path / "p"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "tests/test_tide_watch.py",
        "tide_watch/__init__.py",
        "tide_watch/py.typed",
    ]
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points."pixsim_hooks.plugins"]\ntide-watch = "tide_watch"' in pyproject
    assert 'pixsim_plugins = ["tide_watch"]' in pyproject
    module = (package / "tide_watch" / "__init__.py").read_text()
    assert 'permissions=("event:subscribe", "session:read", "session:write"),' in module
    assert oct(package.stat().st_mode & 0o777) == "0o755"  # the sandboxed child reads it as another uid


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My_Plugin", "'My_Plugin' is not a plugin id"),
        ("x", "'x' is not a plugin id"),
        ("core", "'core' cannot be a plugin's id"),
        ("if", "'if' cannot be a plugin's id"),
    ],
)
def test_a_name_that_is_no_plugin_id_is_refused_in_one_line(tmp_path: Path, name: str, message: str) -> None:
    result = CliRunner().invoke(app, ["new-plugin", name, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}") and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "p").exists()


def test_a_directory_in_use_or_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["new-plugin", "tide", "--dir", str(tmp_path / "taken")])
    assert (result.exit_code, result.output) == (
        2,
        f"error: {tmp_path / 'taken'} exists and is not an empty directory\n",
    )
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]
    result = CliRunner().invoke(app, ["new-plugin", "tide", "--kind", "cron", "--dir", str(tmp_path / "q")])
    assert result.exit_code == 2 and "unknown kind 'cron'" in result.output

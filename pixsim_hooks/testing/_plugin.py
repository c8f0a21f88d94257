"""The pytest plugin (entry point ``pytest11``): the ``pixsim`` fixture and its ``tier`` parametrization.

Harmless where nobody uses it: it adds options, an ini key and a marker, and parametrizes only tests that ask for
``pixsim`` (or ``pixsim_tier``). Nothing heavy is imported until such a test runs: pytest loads this module in every
run where pixsim-hooks is installed, and the backend behind the harness is not small.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pixsim_hooks.testing._tiers import TIERS, Tier

if TYPE_CHECKING:
    from pixsim_hooks.testing._harness import Harness

try:  # the harness is async; without pytest-asyncio the fixture says what to install instead of failing oddly
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is installed wherever this project's tests run
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "pixsim",
    "pixsim_plugins",
    "pixsim_settings",
    "pixsim_tier",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
]

MARKER = "pixsim_tiers"
NO_PLUGINS = (
    "pixsim: no plugin under test: return the plugin modules from a `pixsim_plugins` fixture in your conftest.py, "
    'or set `pixsim_plugins = ["my_plugin"]` under [tool.pytest.ini_options]'
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixsim", "pixsim-hooks plugin tests")
    group.addoption(
        "--pixsim-tier",
        action="append",
        choices=TIERS,
        dest="pixsim_tiers",
        metavar="TIER",
        help=f"run tests that use the `pixsim` fixture only in this tier (repeatable; one of {', '.join(TIERS)})",
    )
    parser.addini("pixsim_plugins", "importable modules of the plugins under test (the `pixsim` fixture)", "args")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*tiers): run this test's `pixsim` only in these tiers (of {', '.join(TIERS)})",
    )


def _marked_tiers(definition: pytest.Item | Any) -> tuple[str, ...]:
    marker = definition.get_closest_marker(MARKER)
    if marker is None:
        return TIERS
    unknown = [t for t in marker.args if t not in TIERS]
    if not marker.args or unknown:
        raise pytest.UsageError(
            f"{definition.nodeid}: @pytest.mark.{MARKER} takes one or more of {list(TIERS)}, got {list(marker.args)}"
        )
    return tuple(t for t in TIERS if t in marker.args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that uses ``pixsim`` runs once per tier its marker allows (ids ``in_process``, ``process``,
    ``remote``)."""
    if "pixsim_tier" not in metafunc.fixturenames:
        return
    if any("pixsim_tier" in m.args[0] for m in metafunc.definition.iter_markers("parametrize") if m.args):
        return  # the test chose its tiers itself
    tiers = _marked_tiers(metafunc.definition)
    metafunc.parametrize("pixsim_tier", tiers, ids=tiers, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--pixsim-tier`` deselects the other tiers' runs (reported as deselected, like ``-k``)."""
    chosen = config.getoption("pixsim_tiers")
    if not chosen:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)  # only parametrized tests have one
        tier = callspec.params.get("pixsim_tier") if callspec is not None else None
        (dropped if tier is not None and tier not in chosen else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def pixsim_tier(request: pytest.FixtureRequest) -> Tier:
    """The tier this run of the test uses (parametrized: ``in_process``, ``process``, ``remote``)."""
    return Tier(getattr(request, "param", Tier.IN_PROCESS.value))


@pytest.fixture
def pixsim_plugins(pytestconfig: pytest.Config) -> Sequence[object]:
    """The plugins under test. Override it in your conftest.py to return the modules (or plugin objects); by
    default the modules named by the ``pixsim_plugins`` ini option."""
    names: list[str] = pytestconfig.getini("pixsim_plugins")
    if not names:
        pytest.fail(NO_PLUGINS, pytrace=False)
    return [importlib.import_module(name) for name in names]


@pytest.fixture
def pixsim_settings() -> Mapping[str, Any]:
    """Fields of :class:`pixsim_hooks.host.Settings` for the harness's host (override it: ``{"hook_deadline_ms":
    500}``). The database is always the test's own SQLite file."""
    return {}


async def _harness(
    plugins: Sequence[object], tier: Tier, directory: Path, settings: Mapping[str, Any]
) -> AsyncIterator[Harness]:
    from pixsim_hooks.testing._harness import Harness
    from pixsim_hooks.testing._isolation import tier_problem

    problem = tier_problem(tier, plugins)
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # a missing part is a red test, never a quiet skip
    async with Harness(plugins, tier, directory, settings) as harness:
        yield harness


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def pixsim(
        pixsim_plugins: Sequence[object],
        pixsim_tier: Tier,
        pixsim_settings: Mapping[str, Any],
        tmp_path: Path,
    ) -> AsyncIterator[Harness]:
        """The backend with the plugins under test, run as ``pixsim_tier`` says, on a fresh SQLite file: a
        :class:`pixsim_hooks.testing.Harness`. Stopped (host, child processes, servers) when the test ends."""
        async for harness in _harness(pixsim_plugins, pixsim_tier, tmp_path, pixsim_settings):
            yield harness

else:  # pragma: no cover

    @pytest.fixture
    def pixsim() -> None:
        pytest.fail("the `pixsim` fixture needs pytest-asyncio: pip install 'pixsim-hooks[testing]'", pytrace=False)

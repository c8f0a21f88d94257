"""The pytest plugin as a suite sees it (pytester runs a small suite of its own): a test that asks for ``pixsim`` runs
once per tier, ``--pixsim-tier`` and ``@pytest.mark.pixsim_tiers`` choose tiers, the plugins under test come from a
fixture or the ini option, and what cannot run fails in one line naming why; a suite that never asks is left alone."""

from __future__ import annotations

import pytest

PLUGIN = """
from pixsim_hooks import PluginManifest, hookimpl

manifest = PluginManifest(
    id="rainy", name="Rainy", version="1.0.0", trust="first_party", permissions=["behavior:extend_conditions"]
)


def is_raining(ctx, params, view):
    return view.world_meta.get("weather") == "rain"


@hookimpl
def register_behavior(ctx):
    ctx.behavior.register_condition_evaluator("is_raining", is_raining)
"""

TEST = """
async def test_rain(pixsim):
    world = await pixsim.world(meta={"weather": "rain"})
    assert await pixsim.condition("is_raining", npc=await pixsim.npc(world)) is True
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
pixsim_plugins = rainy
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A suite with the plugin ``rainy`` beside its test, named by the ini option (each run is a subprocess: an
    inline run would import SQLAlchemy a second time into this process)."""
    pytester.makepyfile(rainy=PLUGIN, test_rainy=TEST)
    pytester.makeini(INI)
    return pytester


def ids(result: pytest.RunResult) -> list[str]:
    return sorted(line.split("::", 1)[1] for line in result.outlines if "::" in line)


def test_a_test_that_uses_pixsim_runs_once_in_each_tier(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=3)
    assert [i.split(" ")[0] for i in ids(result)] == [
        "test_rain[in_process]",
        "test_rain[process]",
        "test_rain[remote]",
    ]


def test_pixsim_tier_selects_tiers_and_deselects_the_others(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "-v", "--pixsim-tier=remote", "--pixsim-tier", "in_process"
    )
    result.assert_outcomes(passed=2, deselected=1)
    assert [i.split(" ")[0] for i in ids(result)] == ["test_rain[in_process]", "test_rain[remote]"]


def test_an_unknown_tier_is_a_usage_error_naming_the_choices(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--pixsim-tier=docker")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pixsim-tier*invalid choice: 'docker'*in_process*process*remote*"])


def test_the_marker_restricts_one_test_to_its_tiers(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.pixsim_tiers("remote", "in_process")
        async def test_only_two(pixsim):
            assert pixsim.tier in ("in_process", "remote")
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-v", "test_marked.py")
    result.assert_outcomes(passed=2)
    assert [i.split(" ")[0] for i in ids(result)] == ["test_only_two[in_process]", "test_only_two[remote]"]


def test_a_marker_naming_no_known_tier_is_a_usage_error(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.pixsim_tiers("docker")
        async def test_x(pixsim):
            pass
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "test_marked.py")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*UsageError: test_marked.py::test_x: @pytest.mark.pixsim_tiers takes one or more of*got ?'docker'?"]
    )


def test_the_plugins_under_test_may_come_from_a_fixture_instead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(rainy=PLUGIN, test_rainy=TEST)
    pytester.makeini(INI.replace("pixsim_plugins = rainy", ""))
    pytester.makeconftest("import pytest, rainy\n\n@pytest.fixture\ndef pixsim_plugins():\n    return [rainy]\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pixsim-tier=in_process").assert_outcomes(passed=1)


def test_with_no_plugin_named_the_test_fails_in_one_line_saying_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rainy=TEST)
    pytester.makeini(INI.replace("pixsim_plugins = rainy", ""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pixsim-tier=in_process")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pixsim: no plugin under test: return the plugin modules from a `pixsim_plugins`*"])


def test_the_process_tier_without_bubblewrap_fails_in_one_line_naming_it(suite: pytest.Pytester) -> None:
    # The machine has bubblewrap (make test installs it): its absence is what the sandbox detection reports.
    suite.makeconftest(
        """
        import pytest
        from pixsim_hooks.runtime import SandboxKind
        from pixsim_hooks.testing import _isolation

        @pytest.fixture(autouse=True)
        def no_bubblewrap(monkeypatch):
            monkeypatch.setattr(_isolation, "detect_sandbox", lambda: SandboxKind.UNSHARE)
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-rE")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_rain[[]process[]]*",
            "the process tier runs the plugin in a sandboxed child, which needs bubblewrap (bwrap)*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_community_plugin_in_the_in_process_tier_fails_saying_how_to_restrict_the_test(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(rainy=PLUGIN.replace('trust="first_party"', 'trust="community", isolation="process"'))
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--pixsim-tier=in_process")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*plugin 'rainy' cannot run in the in_process tier*pixsim_tiers('process', 'remote')*"]
    )


def test_a_suite_that_does_not_ask_for_pixsim_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    assert ids(result)[0].startswith("test_plain PASSED")


def test_the_harness_stops_what_it_started(suite: pytest.Pytester, no_leftover_processes: None) -> None:
    """Sandboxed children and the remote tier's servers end with the test: after the inner run, no process of
    ours is left (the fixture checks) and no server still listens on the port the remote tier used."""
    suite.makepyfile(
        test_ports="""
        import httpx, pytest

        PORTS = []

        @pytest.mark.pixsim_tiers("remote")
        async def test_serve(pixsim):
            PORTS.append(pixsim.host.runs_as("rainy").rsplit(":", 1)[1].strip("/)"))

        def test_after():
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{PORTS[0]}/")
        """
    )
    suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=5)

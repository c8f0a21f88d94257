"""The worked example of docs/authoring.md ("Testing your plugin") runs as printed: its files, written out from the
guide's code blocks, make a suite whose tests pass in each of the three tiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "authoring.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (\S+)\n(.*?)```", re.DOTALL)


def example_files() -> dict[str, str]:
    """The section's code blocks that name their file on their first line, by that file's path."""
    text = GUIDE.read_text()
    section = text.split("## Testing your plugin\n", 1)[1].split("\n## ", 1)[0]
    return {path: body for path, body in BLOCK.findall(section)}


def test_the_guides_testing_example_passes_in_all_three_tiers(pytester: pytest.Pytester) -> None:
    files = example_files()
    assert sorted(files) == ["night_owl.py", "pyproject.toml", "tests/test_night_owl.py"]
    for path, body in files.items():
        (pytester.path / path).parent.mkdir(exist_ok=True)
        (pytester.path / path).write_text(body)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=9)  # 3 tests (two parametrized, one plain) x 3 tiers
    result.stdout.fnmatch_lines(["*test_awake_at_night[[]process-23-True[]] PASSED*"])

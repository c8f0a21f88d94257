"""The public API: one import for plugin authors, a sorted and complete ``__all__``."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import pixsim_hooks


def test_all_is_sorted_and_unique() -> None:
    assert pixsim_hooks.__all__ == sorted(set(pixsim_hooks.__all__))


def test_all_lists_exactly_the_public_names_and_each_resolves_to_its_module() -> None:
    exported = {name: module for module, names in pixsim_hooks._EXPORTS.items() for name in names}
    assert set(pixsim_hooks.__all__) == set(exported)
    for name, module in exported.items():
        assert getattr(pixsim_hooks, name) is getattr(importlib.import_module(module), name)
    public = {n for n, v in vars(pixsim_hooks).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert public - {"annotations", "TYPE_CHECKING", "Any", "import_module"} <= set(pixsim_hooks.__all__)
    assert set(pixsim_hooks.__all__) <= set(dir(pixsim_hooks))


def test_the_type_checkers_view_of_the_api_is_the_runtime_one() -> None:
    """The ``if TYPE_CHECKING`` imports (what mypy and editors see) name the same things, from the same modules."""
    tree = ast.parse(Path(pixsim_hooks.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {(a.name, n.module) for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert seen == {(name, module) for module, names in pixsim_hooks._EXPORTS.items() for name in names}


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        pixsim_hooks.Nope  # noqa: B018


def test_a_plugin_process_starts_without_fastapi_or_the_host() -> None:
    """What a sandboxed child imports before the plugin: no web framework, no host (a faster start and restart)."""
    heavy = ("fastapi", "starlette", "pixsim_hooks._host", "opentelemetry.sdk")
    code = (
        "import sys, pixsim_hooks._child, pixsim_hooks; from pixsim_hooks import PluginManifest, hookimpl;"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_plugin_authors_import_everything_from_one_place() -> None:
    from pixsim_hooks import (  # noqa: F401
        Permission,
        PermissionDenied,
        PluginContext,
        PluginHost,
        PluginManifest,
        hookimpl,
    )

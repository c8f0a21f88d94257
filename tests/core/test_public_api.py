"""The public API: one import for plugin authors, a sorted and complete ``__all__``."""

from __future__ import annotations

import inspect

import pixsim_hooks


def test_all_is_sorted_and_unique() -> None:
    assert pixsim_hooks.__all__ == sorted(set(pixsim_hooks.__all__))


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(pixsim_hooks).items()
        if not name.startswith("_") and name != "annotations" and not inspect.ismodule(value)
    }
    assert set(pixsim_hooks.__all__) == public


def test_plugin_authors_import_everything_from_one_place() -> None:
    from pixsim_hooks import (  # noqa: F401
        Permission,
        PermissionDenied,
        PluginContext,
        PluginHost,
        PluginManifest,
        hookimpl,
    )

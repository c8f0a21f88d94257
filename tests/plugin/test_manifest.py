"""Manifests: validated once, frozen, with errors that name the plugin and the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pixsim_hooks import PluginManifest
from pixsim_hooks.plugin import ManifestError, parse_manifest

GOOD: dict[str, Any] = {"id": "weather", "name": "Weather", "version": "1.2.3-rc.1+build.5"}


def test_a_valid_manifest_parses_with_least_trust_defaults() -> None:
    m = parse_manifest(GOOD, source="ep")
    assert (m.kind.value, m.trust.value, m.isolation.value, m.permissions) == (
        "feature",
        "community",
        "in_process",
        (),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Weather!"}, "id"),
        ({"id": "core"}, "id"),
        ({"version": "1.0"}, "version"),
        ({"trust": "root"}, "trust"),
        ({"permissions": "world:read"}, "permissions"),
        ({"surprise": 1}, "surprise"),
        ({"kind": "remote"}, "<manifest>"),
        ({"remote": {"endpoint": "ftp://x", "secret_setting": "S"}}, "remote.endpoint"),
    ],
)
def test_an_invalid_manifest_names_plugin_and_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest({**GOOD, **change}, source="ep-name")
    assert raised.value.field == field
    assert f"field {field!r}" in str(raised.value)
    assert raised.value.plugin_id == change.get("id", "weather")  # the plugin as it named itself


def test_a_manifest_is_frozen() -> None:
    m = PluginManifest(**GOOD)
    with pytest.raises(ValidationError):
        m.permissions = ("session:write",)  # type: ignore[misc]


def test_remote_plugins_need_their_runtime_section() -> None:
    m = parse_manifest(
        {
            **GOOD,
            "kind": "remote",
            "isolation": "remote",
            "remote": {"endpoint": "https://plugins.example/weather", "secret_setting": "WEATHER_SECRET"},
        },
        source="ep",
    )
    assert m.remote is not None and m.remote.timeout_ms == 500.0

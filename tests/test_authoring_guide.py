"""``docs/authoring.md`` carries the plugin reference as the code renders it, so the guide names every hook, every
extension kind and every field of the values and events a plugin is handed."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import hookspecs
from pixsim_hooks import (
    InteractionExecuted,
    LocationChanged,
    NpcSpawned,
    NpcView,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    WorldSnapshot,
    WorldTimeAdvanced,
)
from pixsim_hooks.host import plugin_reference

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "authoring.md"
BLOCK = re.compile(r"<!-- reference: [^\n]*-->\n(.*)\n<!-- end of reference -->", re.DOTALL)


def embedded() -> str:
    found = BLOCK.search(GUIDE.read_text())
    assert found is not None, "docs/authoring.md has no reference block"
    return found.group(1)


def test_the_guides_reference_is_what_the_code_renders() -> None:
    assert embedded() == plugin_reference(), "run `pixsim-hooks plugins reference` and paste it into the block"


def test_the_reference_names_every_hookspec_with_its_permission() -> None:
    text = embedded()
    specs = [name for module in hookspecs.SPEC_MODULES for name in module.__all__]
    assert len(specs) == 15
    for name in specs:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} | `{name}(ctx: PluginContext"))
        permission = hookspecs.contract_of(_spec(name)).permission
        assert (f"`{permission}`" if permission else "| — |") in row


def _spec(name: str) -> object:
    return next(getattr(m, name) for m in hookspecs.SPEC_MODULES if name in m.__all__)


def test_the_reference_lists_every_field_of_what_plugins_are_handed() -> None:
    text = embedded()
    for cls in (
        WorldSnapshot,
        SessionSnapshot,
        NpcView,
        SessionCreated,
        SessionUpdated,
        InteractionExecuted,
        NpcSpawned,
        LocationChanged,
        WorldTimeAdvanced,
    ):
        line = next(line for line in text.splitlines() if line.startswith(f"- **{cls.__name__}**"))
        for field in dataclasses.fields(cls):
            assert f"`{field.name}: " in line, (cls.__name__, field.name)


def test_the_reference_gives_each_extensions_calling_convention() -> None:
    text = embedded()
    assert "`fn(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool`" in text
    assert "`fn(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None`" in text
    assert "`fn(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float`" in text


def test_the_cli_prints_the_reference() -> None:
    cli = Path(sys.executable).with_name("pixsim-hooks")
    done = subprocess.run([str(cli), "plugins", "reference"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n") == plugin_reference()

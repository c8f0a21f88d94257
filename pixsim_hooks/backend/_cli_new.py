"""``pixsim-hooks new-plugin NAME [--kind KIND] [--dir PATH]``: scaffold a ready plugin package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from pixsim_hooks.backend._cli_common import EXIT_CONFIG, fail
from pixsim_hooks.backend._scaffold import KINDS, ScaffoldError, scaffold

__all__ = ["new_plugin"]


def new_plugin(
    name: Annotated[str, typer.Argument(help="The plugin's id (its namespace and URL prefix), e.g. my-plugin.")],
    kind: Annotated[
        str, typer.Option(help=f"The one hook it starts with: {', '.join(KINDS)}.", show_default=True)
    ] = "condition",
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write it (new or empty; default ./NAME).")
    ] = None,
) -> None:
    """Write a plugin package: pyproject with the entry point, a manifest with the least permissions, one typed
    hook of KIND, py.typed, and tests that run it in every tier. It installs with pip install -e and passes its
    tests and mypy --strict as it is."""
    target = directory if directory is not None else Path(name)
    try:
        written = scaffold(name, kind, target)
    except ScaffoldError as exc:
        fail(str(exc), code=EXIT_CONFIG)
    console = Console(highlight=False)
    console.print(f"created plugin {escape(name)!r} ({escape(kind)}) in {escape(str(target))}:")
    for path in written:
        console.print(f"  {escape(str(path.relative_to(target)))}")
    console.print(f"next: cd {escape(str(target))} && pip install -e '.[test]' && pytest && mypy --strict .")

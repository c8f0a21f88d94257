"""What every ``pixsim-hooks`` command shares: settings from the environment, logging, and clean failures."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pixsim_hooks.host import Settings

__all__ = ["fail", "load_settings", "shown_url"]

EXIT_CONFIG = 2  # the same code click uses for a bad option: the operator must fix how it was invoked


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code`` (no traceback: the message is the whole story)."""
    Console(stderr=True).print(f"[bold red]error[/]: {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the ``PIXSIM_*`` environment; a bad value exits 2 naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = "PIXSIM_" + "_".join(str(p) for p in first["loc"]).upper()
        fail(f"{variable}: {first['msg']}", code=EXIT_CONFIG)


def shown_url(url: str) -> str:
    """The database URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"

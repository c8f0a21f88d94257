"""What every ``pixsim-hooks`` command shares: settings from the environment, logging, and clean failures."""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pixsim_hooks import Settings

__all__ = ["configure_logging", "fail", "load_settings", "shown_url"]

EXIT_CONFIG = 2  # the same code click uses for a bad option: the operator must fix how it was invoked


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code`` (no traceback: the message is the whole story)."""
    Console(stderr=True).print(f"[bold red]error[/]: {message}", highlight=False)
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


def _stderr_logger(*args: Any) -> structlog.PrintLogger:
    # Looked up per logger, not once: the CLI's stderr may be swapped (pytest, CliRunner) after configuration.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(settings: Settings, *, level: int = logging.INFO) -> None:
    """Logs go to stderr so that stdout holds only the command's output (tables can be piped)."""
    rendering: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if settings.log_format == "json"
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )

"""Logging set-up for processes that run pixsim-hooks (the CLI, ``serve``): structlog, configured once.

Library code never configures logging; the entry point calls :func:`configure_logging`. JSON in production
(``PIXSIM_LOG_FORMAT=json``), readable console lines in development. Every line about a plugin carries
``plugin_id`` because the host binds it (``ctx.log`` is the plugin's bound logger) and logs it on every record.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_logging"]


def _stderr_logger(*args: Any) -> structlog.PrintLogger:
    # Looked up per logger, not once: the CLI's stderr may be swapped (pytest, CliRunner) after configuration.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(log_format: str = "console", *, level: int = logging.INFO) -> None:
    """Configure structlog for this process (``PIXSIM_LOG_FORMAT``: ``console`` or ``json``). Logs go to stderr so
    stdout holds only a command's output."""
    rendering: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if log_format == "json"
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

"""``pixsim_hooks.telemetry``: OpenTelemetry and structlog wiring of the host.

:class:`Telemetry` holds the host's tracer (None while tracing is off, so the hot path makes no OpenTelemetry call)
and its meter instruments; the ``ATTR_*`` names are the attributes every span and metric uses.
:func:`configure_logging` sets structlog up for a process (entry points call it; library code never does).

Imports only the OpenTelemetry API and structlog: no other wing of pixsim_hooks.
"""

from __future__ import annotations

from pixsim_hooks.telemetry._logging import configure_logging
from pixsim_hooks.telemetry._otel import (
    ATTR_DURATIONS,
    ATTR_HOOK,
    ATTR_OUTCOME,
    ATTR_PLUGIN,
    ATTR_PLUGINS,
    ATTR_WORLD,
    SAMPLE_EVERY,
    Telemetry,
)

__all__ = [
    "ATTR_DURATIONS",
    "ATTR_HOOK",
    "ATTR_OUTCOME",
    "ATTR_PLUGIN",
    "ATTR_PLUGINS",
    "ATTR_WORLD",
    "SAMPLE_EVERY",
    "Telemetry",
    "configure_logging",
]

"""OpenTelemetry wiring of the host: a tracer only when tracing is on, counters for the rare paths.

With tracing off the dispatcher holds ``tracer = None`` and its hot path makes no OpenTelemetry call at all
(DESIGN.md decision 7). Failures and denials are counted as they happen — they are rare by nature.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace

__all__ = ["ATTR_DURATIONS", "ATTR_HOOK", "ATTR_OUTCOME", "ATTR_PLUGIN", "ATTR_PLUGINS", "ATTR_WORLD", "Telemetry"]

ATTR_PLUGIN = "pixsim.plugin.id"
ATTR_HOOK = "pixsim.hook.name"
ATTR_WORLD = "pixsim.world.id"
ATTR_OUTCOME = "pixsim.outcome"
ATTR_PLUGINS = "pixsim.plugin.ids"  # comma-separated, in call order
ATTR_DURATIONS = "pixsim.hookimpl.durations_ns"  # comma-separated, aligned with pixsim.plugin.ids


class Telemetry:
    """The host's tracer (or None) and its meter instruments."""

    def __init__(self, *, tracing: bool, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer: trace.Tracer | None = (
            trace.get_tracer("pixsim_hooks", tracer_provider=tracer_provider) if tracing else None
        )
        meter = metrics.get_meter("pixsim_hooks", meter_provider=meter_provider)
        self._failures = meter.create_counter(
            "pixsim.plugin.failures", unit="{call}", description="Plugin calls that fell back, by outcome"
        )
        self._denials = meter.create_counter(
            "pixsim.plugin.denials", unit="{access}", description="Capability accesses refused to a plugin"
        )

    def count_failure(self, plugin_id: str, where: str, outcome: str) -> None:
        self._failures.add(1, {ATTR_PLUGIN: plugin_id, ATTR_HOOK: where, ATTR_OUTCOME: outcome})

    def count_denial(self, plugin_id: str, where: str) -> None:
        self._denials.add(1, {ATTR_PLUGIN: plugin_id, "pixsim.capability.member": where})

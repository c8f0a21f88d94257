"""OpenTelemetry wiring of the host: a tracer only when tracing is on, counters for the rare paths.

With tracing off the dispatcher holds ``tracer = None`` and its hot path makes no OpenTelemetry call at all
(DESIGN.md decision 7). Failures and denials are counted as they happen — they are rare by nature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

__all__ = [
    "ATTR_DURATIONS",
    "ATTR_HOOK",
    "ATTR_OUTCOME",
    "ATTR_PLUGIN",
    "ATTR_PLUGINS",
    "ATTR_WORLD",
    "SAMPLE_EVERY",
    "Telemetry",
]

SAMPLE_EVERY = 32  # with tracing off, one hook call in this many is timed per impl (the duration histogram)
ATTR_PLUGIN = "pixsim.plugin.id"
ATTR_HOOK = "pixsim.hook.name"
ATTR_WORLD = "pixsim.world.id"
ATTR_OUTCOME = "pixsim.outcome"
ATTR_PLUGINS = "pixsim.plugin.ids"  # comma-separated, in call order
ATTR_DURATIONS = "pixsim.hookimpl.durations_ns"  # comma-separated, aligned with pixsim.plugin.ids


class Telemetry:
    """The host's tracer (or None) and its meter instruments."""

    def __init__(
        self,
        *,
        tracing: bool,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        calls_by_impl: Callable[[], Iterable[tuple[str, str, int]]] = tuple,
    ) -> None:
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
        self._durations = meter.create_histogram(
            "pixsim.hookimpl.duration",
            unit="ms",
            description=f"Wall time of one hookimpl (1 hook call in {SAMPLE_EVERY} is timed when tracing is off)",
        )
        self._breaker = meter.create_counter(
            "pixsim.plugin.breaker.transitions", unit="{transition}", description="Circuit breaker state changes"
        )
        self._route_requests = meter.create_counter(
            "pixsim.plugin.route.requests", unit="{request}", description="Requests to plugin routes"
        )
        self._route_duration = meter.create_histogram(
            "pixsim.plugin.route.duration", unit="ms", description="Latency of plugin route requests"
        )
        self._calls_by_impl = calls_by_impl
        # Successful calls are plain integer bumps on the hot path; the SDK reads them when it exports.
        meter.create_observable_counter(
            "pixsim.hookimpl.calls", [self._observe_calls], unit="{call}", description="Successful hookimpl calls"
        )

    def _observe_calls(self, options: CallbackOptions) -> Iterable[Observation]:
        for plugin_id, hook, calls in self._calls_by_impl():
            yield Observation(calls, {ATTR_PLUGIN: plugin_id, ATTR_HOOK: hook})

    def record_durations(self, hook: str, plugin_ids: list[str], laps_ns: list[int]) -> None:
        for plugin_id, lap in zip(plugin_ids, laps_ns, strict=True):
            self._durations.record(lap / 1e6, {ATTR_PLUGIN: plugin_id, ATTR_HOOK: hook})

    def record_route(self, plugin_id: str, method: str, status: int, elapsed_ns: int) -> None:
        attributes: dict[str, str | int] = {
            ATTR_PLUGIN: plugin_id,
            "http.request.method": method,
            "http.response.status_code": status,
        }
        self._route_requests.add(1, attributes)
        self._route_duration.record(elapsed_ns / 1e6, attributes)

    def count_breaker(self, plugin_id: str, world_id: int, new_state: str) -> None:
        self._breaker.add(1, {ATTR_PLUGIN: plugin_id, ATTR_WORLD: world_id, "pixsim.breaker.state": new_state})

    def count_failure(self, plugin_id: str, where: str, outcome: str) -> None:
        self._failures.add(1, {ATTR_PLUGIN: plugin_id, ATTR_HOOK: where, ATTR_OUTCOME: outcome})

    def count_denial(self, plugin_id: str, where: str) -> None:
        self._denials.add(1, {ATTR_PLUGIN: plugin_id, "pixsim.capability.member": where})

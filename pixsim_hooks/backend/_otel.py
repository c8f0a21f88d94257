"""OpenTelemetry SDK set-up from the settings.

``PIXSIM_OTEL_EXPORTER`` picks where traces and metrics are pushed: ``none``, ``console`` or ``otlp`` (needs the
``otlp`` extra). ``PIXSIM_PROMETHEUS`` adds a pull reader beside it, whose registry the app serves at ``/metrics``
(needs the ``prometheus`` extra). With ``none`` and no Prometheus the SDK is never imported. Traces and metrics
aggregate in any OTel collector across replicas; Prometheus scrapes each replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixsim_hooks.host import Settings
from pixsim_hooks.plugin import ConfigError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["SdkSetup", "sdk_providers", "sdk_setup"]


@dataclass(frozen=True, slots=True)
class SdkSetup:
    """What the settings ask for: providers for the host (None: the API's no-op default) and the registry that
    ``/metrics`` serves (None: Prometheus is off)."""

    tracer_provider: Any = None
    meter_provider: Any = None
    prometheus_registry: CollectorRegistry | None = None


def sdk_setup(settings: Settings) -> SdkSetup:
    """Build the configured providers; :class:`ConfigError` naming the pip command when an extra is missing."""
    if settings.otel_exporter == "none" and not settings.prometheus:
        return SdkSetup()
    # Fail on a missing extra before anything starts a background exporter thread.
    prometheus = _prometheus_reader() if settings.prometheus else None
    from opentelemetry.sdk.metrics import MeterProvider

    readers: list[Any] = []
    tracer_provider = None
    if settings.otel_exporter != "none":
        tracer_provider, push_reader = _push(settings.otel_exporter)
        readers.append(push_reader)
    registry = None
    if prometheus is not None:
        registry, prometheus_reader = prometheus
        readers.append(prometheus_reader)
    return SdkSetup(tracer_provider, MeterProvider(readers), registry)


def sdk_providers(settings: Settings) -> tuple[Any, Any]:
    """``(tracer_provider, meter_provider)`` for the configured exporter, or ``(None, None)`` when nothing is on."""
    setup = sdk_setup(settings)
    return setup.tracer_provider, setup.meter_provider


def _push(kind: str) -> tuple[Any, Any]:
    """A tracer provider exporting to ``kind`` and the periodic metric reader pushing there too."""
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    span_exporter, metric_exporter = _exporters(kind)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))  # export off the request path
    return tracer_provider, PeriodicExportingMetricReader(metric_exporter)


def _exporters(kind: str) -> tuple[Any, Any]:
    if kind == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(), ConsoleMetricExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "PIXSIM_OTEL_EXPORTER=otlp needs the OTLP exporter: pip install 'pixsim-hooks[otlp]'", path="otel_exporter"
        ) from None
    return OTLPSpanExporter(), OTLPMetricExporter()


def _prometheus_reader() -> tuple[CollectorRegistry, Any]:
    """A reader on a registry of its own. The reader's default is prometheus_client's global REGISTRY, where a
    second app in the process (every test builds one) would register a second collector and each scrape would
    report both apps' series; a private registry keeps one app's /metrics to that app."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry
    except ImportError:
        raise ConfigError(
            "PIXSIM_PROMETHEUS=true needs the Prometheus exporter: pip install 'pixsim-hooks[prometheus]'",
            path="prometheus",
        ) from None
    registry = CollectorRegistry()  # `registry=` needs the exporter >= 0.63b0, the extra's lower bound
    return registry, PrometheusMetricReader(registry=registry)

"""OpenTelemetry SDK set-up from ``PIXSIM_OTEL_EXPORTER``: ``none`` (the SDK is never imported), ``console`` or
``otlp`` (needs the ``otlp`` extra). Traces and metrics aggregate in any OTel collector across replicas."""

from __future__ import annotations

from typing import Any

from pixsim_hooks._exceptions import ConfigError
from pixsim_hooks._settings import Settings

__all__ = ["sdk_providers"]


def sdk_providers(settings: Settings) -> tuple[Any, Any]:
    """``(tracer_provider, meter_provider)`` for the configured exporter, or ``(None, None)`` for ``none``."""
    if settings.otel_exporter == "none":
        return None, None
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    span_exporter, metric_exporter = _exporters(settings.otel_exporter)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))  # export off the request path
    meter_provider = MeterProvider([PeriodicExportingMetricReader(metric_exporter)])
    return tracer_provider, meter_provider


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

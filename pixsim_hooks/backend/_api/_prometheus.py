"""``GET /metrics``: the app's OpenTelemetry metrics in Prometheus' text format, for a Prometheus scrape.

Mounted only when ``PIXSIM_PROMETHEUS`` is on; otherwise ``/metrics`` is a plain 404. Like every Prometheus
endpoint it takes no auth: scrape it on a private network or behind the proxy's auth. The series carry plugin ids,
hook names and outcomes, never payloads. Imported only when Prometheus is on, because prometheus_client comes with
the optional ``prometheus`` extra.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["prometheus_router"]


def prometheus_router(registry: CollectorRegistry) -> APIRouter:
    """A router serving ``registry`` (the app's own, see ``_otel``) at ``/metrics``, outside the JSON API."""
    router = APIRouter()

    # async on purpose: a scrape runs the host's observable callbacks, which read its per-impl call counters. On
    # the event loop that read cannot race the dispatcher adding counters; in FastAPI's threadpool it could.
    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router

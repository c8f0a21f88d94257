"""Settings from the environment (``PIXSIM_`` prefix) — the only place plugin configuration lives besides JSON.

Lists take comma-separated values: ``PIXSIM_PLUGINS_DENY=stealth,audit``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pixsim_hooks.runtime import RuntimeLimits

__all__ = ["Settings"]


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]


class Settings(BaseSettings):
    """Host and backend settings. Every field reads ``PIXSIM_<FIELD>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="PIXSIM_", extra="ignore", frozen=True)

    # -- plugin host
    plugins_allow: CsvList | None = Field(
        default=None, description="When set, only these plugin ids may load (others are quarantined)."
    )
    plugins_deny: CsvList = Field(default_factory=list, description="Plugin ids that never load; wins over allow.")
    plugins_disabled: CsvList = Field(
        default_factory=list, description="Plugins that load but start globally disabled."
    )
    plugins_trusted: CsvList | None = Field(
        default=None,
        description="When set, only these plugin ids may claim trust first_party/partner; others count as community.",
    )
    hook_deadline_ms: float = Field(default=2000.0, gt=0, description="Deadline of one hook call, all impls.")
    tracing: bool = Field(default=False, description="Open an OpenTelemetry span per hook call.")
    tracing_sample: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="With tracing on, the share of plugin calls that get a span (0.1: one call in ten); the others "
        "make no OpenTelemetry call at all.",
    )
    otel_exporter: str = Field(
        default="none",
        pattern="^(none|console|otlp)$",
        description="Where traces and metrics are pushed; with none (and no prometheus) the SDK is not even imported.",
    )
    # A switch beside otel_exporter, not one of its values: Prometheus pulls metrics only, so an operator can keep
    # pushing traces (otlp) and still be scraped.
    prometheus: bool = Field(
        default=False,
        description="Serve GET /metrics for a Prometheus scrape, beside any exporter (extra pixsim-hooks[prometheus]).",
    )
    health_window_s: float = Field(default=60.0, gt=0, description="Sliding window of plugin error rates.")
    # -- deployment (several processes)
    redis_url: str | None = Field(
        default=None,
        description="Redis (redis://host:6379/0): every process of the deployment shares the operator's word on each "
        "plugin and the admin sessions through it, and events go through its streams to `pixsim-hooks worker` "
        "processes (extra pixsim-hooks[redis]). Unset: one process, nothing shared, events delivered inline.",
    )
    replica_id: str | None = Field(
        default=None, max_length=200, description="This process's name in the deployment (default: host name and pid)."
    )
    control_reconcile_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often a process re-reads the shared plugin words and reports itself (a missed message is "
        "caught up by then).",
    )
    events_delivery: Literal["inline", "streams"] | None = Field(
        default=None,
        description="inline: each process delivers its writes' events after the commit, the response waiting for "
        "the handlers; streams: through Redis to `pixsim-hooks worker` processes (needs PIXSIM_REDIS_URL). Default: "
        "streams with PIXSIM_REDIS_URL, inline without.",
    )
    events_shards: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Streams the events are spread over (by session); the most workers that deliver to one plugin at "
        "once. Every process of a deployment must use the same number.",
    )
    events_max_attempts: int = Field(
        default=5, ge=1, le=1000, description="Deliveries of one event to a failing plugin before it is dead-lettered."
    )
    events_backoff_s: float = Field(
        default=0.5, gt=0, le=3600, description="Wait before the first retry of an event; doubled for each next one."
    )
    events_max_backoff_s: float = Field(default=30.0, gt=0, le=3600, description="The longest wait between retries.")
    events_lease_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How long a worker's hold on a (plugin, stream) outlives the worker: a killed worker's events are "
        "taken over after it.",
    )
    events_commit_horizon_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long a worker waits for the database to show the write behind an event before it drops the "
        "event as one whose transaction never committed.",
    )
    breaker_threshold: int = Field(default=5, ge=1, description="Failures in the window that open a plugin's breaker.")
    breaker_window_s: float = Field(default=60.0, gt=0, description="Window the breaker counts failures in.")
    breaker_cooldown_s: float = Field(default=30.0, gt=0, description="Open time before a breaker half-opens.")
    # -- backend
    sandbox_max_message_bytes: int = Field(
        default=1 << 20, ge=4096, description="Largest protocol message an out-of-process plugin may send or receive."
    )
    sandbox_spin_us: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="How long a plugin process polls for the next call before it sleeps (halves round trips).",
    )
    sandbox_crash_limit: int = Field(default=3, ge=1, description="Crashes within the window that quarantine it.")
    sandbox_crash_window_s: float = Field(default=300.0, gt=0, description="Window of the crash-loop rule.")
    remote_event_queue: int = Field(default=1000, ge=1, description="Queued events per remote plugin (oldest dropped).")
    gc_freeze: bool = Field(
        default=False,
        description="Move the start-up heap out of the garbage collector's reach once the app has started (gc.freeze): "
        "full collections then skip it. `pixsim-hooks serve` turns it on; tests, which build many apps, leave it off.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./pixsim.sqlite3",
        description="SQLAlchemy async URL (SQLite or asyncpg).",
    )
    admin_token: str | None = Field(default=None, description="Bearer token of the admin API; unset = admin off.")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=2**31 - 1,
        description="Largest request body the backend reads; a larger one is answered 413 before any route runs.",
    )
    log_format: str = Field(default="console", pattern="^(console|json)$")

    @field_validator("events_delivery")
    @classmethod
    def _streams_need_redis(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "streams" and info.data.get("redis_url") is None:
            raise ValueError("streams needs PIXSIM_REDIS_URL (the event log is on Redis)")
        return value

    @property
    def streams_events(self) -> bool:
        """Whether events go through the Redis event log to workers (else: inline, in the process that wrote)."""
        return self.redis_url is not None and self.events_delivery != "inline"

    def runtime_limits(self) -> RuntimeLimits:
        """What out-of-process plugins run under, from these settings."""
        return RuntimeLimits(
            deadline_s=self.hook_deadline_ms / 1000,
            max_message_bytes=self.sandbox_max_message_bytes,
            spin_us=self.sandbox_spin_us,
            crash_limit=self.sandbox_crash_limit,
            crash_window_s=self.sandbox_crash_window_s,
            event_queue=self.remote_event_queue,
        )

"""How the backend's committed events reach the plugins' event hooks, scoped to each event's world.

In one process they are delivered inline after the commit (:func:`host_publisher`). In a deployment on Redis
(``PIXSIM_REDIS_URL``) each write appends them to the event log (:class:`RedisEventLog`, :func:`event_log`) before
its commit, and ``pixsim-hooks worker`` processes deliver them (:class:`EventWorker`): at least once, in order per
session, retried, then dead-lettered (``docs/deployment.md``). The write side is the stores' journal
(``pixsim_hooks.backend._journal``).

Imports the backend's service and store, and the host's and runtime's faces; redis-py only for the Redis names
(:class:`RedisEventLog`, :class:`EventWorker`, :class:`DeadLetter`, :class:`Envelope`, ``FAILURES``: the errors
that mean Redis cannot be reached; loaded on first use), so that
a backend without Redis never needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pixsim_hooks.backend.events._bridge import EVENT_HOOKS, event_log, event_plugins, host_publisher

if TYPE_CHECKING:
    from pixsim_hooks.backend.events._log import FAILURES, DeadLetter, Envelope, RedisEventLog, envelope_of
    from pixsim_hooks.backend.events._worker import EventWorker, worker_name

__all__ = [
    "DeadLetter",
    "EVENT_HOOKS",
    "Envelope",
    "EventWorker",
    "FAILURES",
    "RedisEventLog",
    "envelope_of",
    "event_log",
    "event_plugins",
    "host_publisher",
    "worker_name",
]

_ON_REDIS = {
    "DeadLetter": "_log",
    "Envelope": "_log",
    "FAILURES": "_log",
    "RedisEventLog": "_log",
    "envelope_of": "_log",
    "EventWorker": "_worker",
    "worker_name": "_worker",
}


def __getattr__(name: str) -> Any:
    """The Redis names, imported when first asked for (redis-py is an optional dependency)."""
    module = _ON_REDIS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

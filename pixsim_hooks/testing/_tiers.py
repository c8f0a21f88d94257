"""The names of the three tiers the same plugin code runs in under test. Stdlib only: the pytest plugin imports it
at start-up in every run where pixsim-hooks is installed."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TIERS", "Tier"]


class Tier(StrEnum):
    """Where the plugin's code runs: the host's process, a sandboxed child process, a server behind signed HTTP."""

    IN_PROCESS = "in_process"
    PROCESS = "process"
    REMOTE = "remote"


TIERS: tuple[str, ...] = tuple(t.value for t in Tier)
"""The tiers' names, in the order a test runs in them."""

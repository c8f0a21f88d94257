"""The pluggy markers of project ``pixsim`` and the per-hook contract the host enforces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import pluggy

__all__ = ["PROJECT_NAME", "Fallback", "HookContract", "contract", "contract_of", "hookimpl", "hookspec"]

PROJECT_NAME = "pixsim"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function in a hookspec module as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin function or method as the implementation of the hookspec of the same name."""


class Fallback(StrEnum):
    """What the host does with a hookimpl that raises, is denied, or misses its deadline."""

    QUARANTINE = "quarantine"  # lifecycle: the plugin is quarantined with the reason; other plugins go on
    LOG = "log"  # events: the failure is logged and recorded; the event still reaches the other plugins
    EMPTY = "empty"  # collecting hooks: the plugin contributes nothing to the result
    SKIP = "skip"  # routes / middleware: the plugin's router or middleware is not mounted


@dataclass(frozen=True, slots=True)
class HookContract:
    """The host-side rules of one hookspec: who may implement it and what a failure falls back to."""

    kind: str  # "lifecycle" | "event" | "behavior" | "route"
    permission: str | None  # permission a plugin needs to implement the hook (None: any plugin may)
    fallback: Fallback
    deadline_ms: float | None = None  # None: the host's default deadline (settings.hook_deadline_ms)


F = TypeVar("F", bound=Callable[..., object])


def contract(
    *, kind: str, permission: str | None, fallback: Fallback, deadline_ms: float | None = None
) -> Callable[[F], F]:
    """Attach a :class:`HookContract` to a hookspec function (read by the host as ``fn.pixsim_contract``)."""

    def attach(fn: F) -> F:
        fn.pixsim_contract = HookContract(kind, permission, fallback, deadline_ms)  # type: ignore[attr-defined]
        return fn

    return attach


def contract_of(spec_function: Callable[..., object]) -> HookContract:
    """The :class:`HookContract` attached to a hookspec function by :func:`contract`."""
    found = getattr(spec_function, "pixsim_contract", None)
    if not isinstance(found, HookContract):
        raise TypeError(f"hookspec {spec_function.__name__!r} has no pixsim contract")
    return found

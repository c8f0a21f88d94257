"""The two errors a plugin sees from a capability, and the one place a denial is reported.

Both errors pickle with every field intact (``__reduce__``): they cross process boundaries once plugins run out of
process, and ``BaseException``'s default reduction would call ``__init__`` with the message alone. Their fields
are read-only once set (see ``_RecordedError``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["CapabilityError", "DenialScope", "PermissionDenied", "report_denial"]

logger = logging.getLogger("proxies")


class _RecordedError(Exception):
    """An error whose fields are written once.

    The host records the very instance the plugin catches (``on_denied``: health, logs, metrics); a plugin that
    rewrites ``exc.plugin_id`` or ``exc.args`` afterwards must not rewrite the host's record.
    """

    _fields: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> None:
        if name == "args" or (name in self._fields and name in self.__dict__):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name == "args" or name in self._fields:
            raise AttributeError(f"{type(self).__name__}.{name} is read-only")
        super().__delattr__(name)

    def __reduce__(self) -> tuple[object, ...]:
        fields = tuple(getattr(self, name) for name in self._fields)
        extra = {k: v for k, v in vars(self).items() if k not in self._fields}  # a host subclass's own fields
        return (type(self), fields, extra) if extra else (type(self), fields)


class PermissionDenied(_RecordedError):
    """Raised when a plugin touches a capability member its permissions do not grant."""

    _fields: ClassVar[tuple[str, ...]] = ("plugin_id", "permission", "capability", "member")

    plugin_id: str
    permission: str | None
    capability: str
    member: str | None

    def __init__(self, plugin_id: str, permission: str | None, capability: str, member: str | None = None) -> None:
        # Straight into the instance dict: the write-once __setattr__ costs a Python call per field, and denials
        # are built on a path plugins may hit in a loop.
        vars(self).update(plugin_id=plugin_id, permission=permission, capability=capability, member=member)
        where = capability if member is None else f"{capability}.{member}"
        if permission is None:
            message = f"plugin {plugin_id!r} may not access {where} (no permission grants it)"
        else:
            message = f"plugin {plugin_id!r} lacks permission {permission!r} for {where}"
        super().__init__(message)


class CapabilityError(_RecordedError):
    """A granted capability call failed; carries only a sanitized message (see 'Sealed calls').

    The original exception is never attached: its message may hold SQL or secrets and its traceback holds host
    frames. Only its type name survives, in ``error_type``.
    """

    _fields: ClassVar[tuple[str, ...]] = ("capability", "member", "error_type", "plugin_id")

    # A CapabilityError from a nested capability call is already sanitized, so it may cross again unchanged.
    __plugin_safe__ = True

    capability: str
    member: str
    error_type: str
    plugin_id: str | None

    def __init__(self, capability: str, member: str, error_type: str, plugin_id: str | None = None) -> None:
        vars(self).update(capability=capability, member=member, error_type=error_type, plugin_id=plugin_id)
        super().__init__(f"capability call {capability}.{member} failed ({error_type})")


def report_denial(exc: PermissionDenied, on_denied: Callable[[PermissionDenied], None] | None) -> None:
    """Hand a denial to the host's callback, or log it; a failing callback never stops the denial itself."""
    if on_denied is None:
        logger.warning("plugin %r denied: %s", exc.plugin_id, exc)
        return
    try:
        on_denied(exc)
    except Exception:
        logger.exception("on_denied callback failed while reporting a denial of plugin %r", exc.plugin_id)


@dataclass(frozen=True, slots=True, eq=False)
class DenialScope:
    """Who is asking and through what: everything needed to build, report and explain one denial.

    ``prefix`` names the sealed call a denied attribute was read from (``"get_world."``), so the member reads
    ``get_world.__self__``.
    """

    plugin_id: str
    capability: str
    requires: Mapping[str, str]
    on_denied: Callable[[PermissionDenied], None] | None
    prefix: str = ""

    def deny(self, member: str, *, grantable: bool = True) -> PermissionDenied:
        """Build and report the denial; the caller raises it, so the raising frame is the caller's own.

        ``grantable=False`` (assignment, deletion) names no permission: no permission ever grants those.
        """
        permission = self.requires.get(member) if grantable else None
        exc = PermissionDenied(self.plugin_id, permission, self.capability, self.prefix + member)
        report_denial(exc, self.on_denied)
        return exc

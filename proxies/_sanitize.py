"""What an exception raised inside a granted call becomes on its way back to plugin code (red-team item 8).

The original never crosses: its traceback holds host frames (and their locals: sessions, other plugins' contexts)
and its message may hold SQL or secrets. The plugin gets a fresh exception with no traceback, cause or context:

- ``PermissionDenied`` (and subclasses) and classes marked ``__plugin_safe__ = True`` → a new instance of the same
  class with the same ``args`` and fields (the host opts its own error types in this way);
- exactly ``ValueError``, ``TypeError``, ``KeyError``, ``LookupError``, ``IndexError`` → the same type, message only
  (subclasses are not included: ``pydantic.ValidationError`` is a ``ValueError`` whose message echoes input);
- anything else → ``CapabilityError`` naming the capability, the member and the original type's name only.
"""

from __future__ import annotations

from proxies._denied import CapabilityError, PermissionDenied

__all__ = ["CallScope", "detached", "sanitize"]

_MESSAGE_SAFE: frozenset[type[BaseException]] = frozenset({ValueError, TypeError, KeyError, LookupError, IndexError})


class CallScope:
    """One granted callable: who calls it, what it is, and what stands in for its target when it returns it."""

    __slots__ = ("capability", "member", "plugin_id", "stand_in", "target_id")

    def __init__(self, plugin_id: str, capability: str, member: str) -> None:
        self.plugin_id = plugin_id
        self.capability = capability
        self.member = member
        self.stand_in: object = None
        self.target_id = 0  # no live object has id 0

    def __str__(self) -> str:
        return f"{self.capability}.{self.member}"

    def bind(self, stand_in: object, target: object) -> None:
        """Hand ``stand_in`` back whenever the call returns ``target`` (``__enter__`` returning ``self``).

        Comparing ids is sound: ``stand_in`` wraps ``target`` and this scope keeps ``stand_in`` alive.
        """
        self.stand_in = stand_in
        self.target_id = id(target)

    def returned(self, result: object) -> object:
        return self.stand_in if id(result) == self.target_id else result


def detached(exc: Exception) -> Exception:
    """``exc`` with no traceback, cause or context, and context display suppressed."""
    exc.__traceback__ = None
    exc.__cause__ = None
    exc.__context__ = None
    exc.__suppress_context__ = True
    return exc


def sanitize(exc: BaseException, call: CallScope) -> Exception:
    """The exception plugin code may see in place of ``exc`` (built here, raised by the caller)."""
    cls = type(exc)
    safe: Exception | None = None
    if isinstance(exc, PermissionDenied) or getattr(cls, "__plugin_safe__", False) is True:
        safe = _clone(exc)
    elif cls in _MESSAGE_SAFE:
        safe = cls(_message(exc))  # type: ignore[assignment]  # cls is one of the Exception types above
    if safe is None:
        safe = CapabilityError(call.capability, call.member, cls.__name__, call.plugin_id)
    return detached(safe)


def _clone(exc: BaseException) -> Exception | None:
    """A new instance of ``exc``'s class with its args and fields; ``__init__`` is not run (it may need keywords
    that ``args`` does not carry). ``None`` when the class cannot be rebuilt that way."""
    cls = type(exc)
    try:
        clone = cls.__new__(cls, *exc.args)
        if clone.args != exc.args:  # a custom __new__ that drops its arguments
            clone.args = exc.args
        clone.__dict__.update(vars(exc))  # not setattr: PermissionDenied's fields are write-once
    except Exception:
        return None
    return clone if isinstance(clone, Exception) else None


def _message(exc: BaseException) -> str:
    # KeyError's str() quotes its key; a single string argument is the message as the host wrote it.
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)

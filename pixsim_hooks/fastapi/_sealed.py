"""Sealed holders: what the host hands plugin code in place of its own ``receive``, ``send`` and next ``app``.

A closure's cells (``fn.__closure__[0].cell_contents``) and a bound method's ``__self__`` are plain attributes. The
server's ``receive`` is a bound method of its request cycle, whose ``scope`` holds the main application (settings
with the admin token, the storage, the host), and the next ASGI app of a middleware chain is a closure over the rest
of the application: handed over as they are, each would hand over the house. A :class:`Sealed` holder can be awaited
(when it holds a callable) and nothing else: every attribute read, write and deletion is refused, and what it holds
sits in a slot whose descriptor is taken off the class, so ``type(holder).__dict__`` leads nowhere either.

What stays reachable is the in-process limit: ``gc.get_referents``, the frames of a coroutine driven by hand and
``object.__setattr__``-class calls reach the held object. Only a process boundary stops those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["Sealed", "reveal"]


class Sealed:
    """A holder none of whose attributes can be read; ``await holder(*args)`` awaits what it holds."""

    __slots__ = ("_held",)

    def __new__(cls, held: object) -> Sealed:
        # Set here, never in an __init__ that could be called again on a live holder to swap what it holds.
        holder = object.__new__(cls)
        _set_held(holder, held)
        return holder

    def __getattribute__(self, name: str) -> NoReturn:
        raise AttributeError(f"{name}: a sealed holder has no attributes")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        # __class__ too: a class with the same slot layout would otherwise read the slot back through its own.
        raise AttributeError(f"{name}: a sealed holder cannot be changed")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{name}: a sealed holder cannot be changed")

    async def __call__(self, *args: Any) -> Any:
        # async on purpose: a plain forward would return the host's own coroutine, whose frame holds host locals
        # before it even starts; this one's frame holds only the holder and the arguments.
        return await _get_held(self)(*args)

    def __repr__(self) -> str:
        return "<sealed>"


_get_held: Callable[[Sealed], Any] = Sealed.__dict__["_held"].__get__
_set_held: Callable[[Sealed, object], None] = Sealed.__dict__["_held"].__set__
delattr(Sealed, "_held")  # the slot's descriptor goes from the class: type(holder)._held leads nowhere now


def reveal(holder: Sealed) -> Any:
    """What ``holder`` holds (host side only)."""
    return _get_held(holder)

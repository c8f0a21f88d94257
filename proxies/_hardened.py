"""``HardenedProxy``: a ``wrapt.ObjectProxy`` that forwards nothing to what it wraps.

``wrapt.ObjectProxy`` forwards about a hundred special methods and descriptors (operators, ``__len__``,
``__reduce__``, ``__wrapped__``, ``__dict__``, ...) to the wrapped object; each of them is a way around an allowlist.
The denials are computed from wrapt's own classes, so a wrapt release that adds a forwarder adds a denial here too.
:data:`IMPLEMENTED` lists the few members this module defines differently on purpose; :data:`CLASS_MACHINERY` the
few that belong to the class itself and forward nothing of the target.

Subclasses are generated one per proxy (see :func:`harden`) and carry the proxy's denial scope, repr and listing
as class attributes: special methods are looked up on the type, so that is where per-proxy behaviour must live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import wrapt

from proxies._denied import DenialScope

__all__ = [
    "CLASS_MACHINERY",
    "DENIED",
    "IMPLEMENTED",
    "HardenedProxy",
    "Opaque",
    "harden",
    "is_hardened",
    "revealed",
    "wrapped_of",
]


def _wrapt_member(name: str) -> Any:
    for klass in wrapt.ObjectProxy.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    # wrapt's pure-Python fallback keeps the target in the instance __dict__ and sets it with object.__setattr__:
    # nothing below could hold over it, so refuse to load rather than hand out leaky proxies.
    raise ImportError(
        f"proxies needs wrapt's C extension (wrapt.ObjectProxy has no C-level {name}; is WRAPT_DISABLE_EXTENSIONS set?)"
    )


def _wrapt_dunders() -> dict[str, object]:
    found: dict[str, object] = {}
    for klass in wrapt.ObjectProxy.__mro__[:-1]:  # not `object`: its slots forward nothing
        for name, value in vars(klass).items():
            if name.startswith("__") and name.endswith("__"):
                found.setdefault(name, value)
    return found


# Captured before they are shadowed below: the only ways this package itself reaches the wrapped object.
wrapped_of: Callable[[object], Any] = _wrapt_member("__wrapped__").__get__
_wrapt_init: Callable[[Any, Any], None] = wrapt.ObjectProxy.__init__
_own_dict: Callable[[object], dict[str, object]] = _wrapt_member("__self_dict__").__get__

IMPLEMENTED = frozenset(
    {
        "__bool__",
        "__class__",
        "__delattr__",
        "__dir__",
        "__eq__",
        "__getattr__",
        "__getattribute__",
        "__hash__",
        "__init__",
        "__ne__",
        "__repr__",
        "__setattr__",
        "__str__",
    }
)
"""Defined below on purpose: identity semantics, our own repr/dir/class, and the attribute gates."""

CLASS_MACHINERY = frozenset({"__class_getitem__", "__doc__", "__module__", "__new__", "__qualname__"})
"""Left as wrapt has them: they describe the proxy class, not the target. ``__qualname__`` cannot be replaced (a
class's own ``__qualname__`` must be a string), so ``object.__getattribute__(p, "__qualname__")`` still reads the
target's; that path is red-team item 10 (see the package docstring)."""

_EXTRA = frozenset({"__call__", "__getnewargs__", "__getnewargs_ex__", "__getstate__", "__reduce_ex__", "__setstate__"})
"""Not wrapt forwarders, but a way in all the same: calling, and the pickle/copy protocol inherited from object."""

_WRAPT = _wrapt_dunders()
DENIED = frozenset(_WRAPT.keys() | _EXTRA) - IMPLEMENTED - CLASS_MACHINERY
"""Every special member a proxy refuses: each raises ``PermissionDenied`` for it."""


def _scope(proxy: object) -> DenialScope:
    scope: DenialScope = type(proxy)._proxy_scope  # type: ignore[attr-defined]
    return scope


def _denying_method(name: str) -> Callable[..., NoReturn]:
    def denied(self: object, /, *args: object, **kwargs: object) -> NoReturn:
        raise _scope(self).deny(name)

    denied.__name__ = denied.__qualname__ = name
    return denied


def _denying_descriptor(name: str) -> property:
    def get(self: object) -> NoReturn:
        raise _scope(self).deny(name)

    def set_(self: object, value: object) -> NoReturn:
        raise _scope(self).deny(name, grantable=False)

    def delete(self: object) -> NoReturn:
        raise _scope(self).deny(name, grantable=False)

    return property(get, set_, delete, doc=f"{name}: always denied")


def _is_descriptor(value: object) -> bool:
    return hasattr(type(value), "__set__")  # getset descriptors and properties: wrapt's forwarding attributes


def _denials() -> dict[str, object]:
    return {
        name: _denying_descriptor(name) if _is_descriptor(_WRAPT.get(name)) else _denying_method(name)
        for name in sorted(DENIED)
    }


# The denials sit in a base class below the explicit members, so nothing denied can shadow an implemented one.
_Denials: Any = type("_Denials", (wrapt.ObjectProxy,), {"__slots__": (), "__module__": __name__, **_denials()})


def _own_class(self: object) -> type:
    return type(self)


def _refuse_class_assignment(self: object, value: object) -> NoReturn:
    raise _scope(self).deny("__class__", grantable=False)


class HardenedProxy(_Denials):  # type: ignore[misc]  # _Denials is built at run time, so typed Any
    """Base of every proxy handed to plugin code: wraps a target, exposes nothing of it.

    Subclasses made by :func:`harden` decide what (if anything) may be read; everything else is denied.
    """

    # Per-proxy class attributes set by harden(): _proxy_scope, _proxy_repr, _proxy_dir. They are not declared
    # here: any annotation in a class body (even under TYPE_CHECKING) gives the class an __annotations__ dict,
    # which would shadow the denial of __annotations__.
    __slots__ = ()

    # Never the target's class: isinstance(p, Target) is False and p.__class__ leads nowhere.
    __class__ = property(_own_class, _refuse_class_assignment)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Reading ``SomeProxyClass.__annotations__`` makes CPython store a fresh {} in that class's own dict, which
        # would shadow the denial below it for every proxy of the class: each class gets the denial itself.
        super().__init_subclass__(**kwargs)
        if "__annotations__" not in cls.__dict__:
            type.__setattr__(cls, "__annotations__", _denying_descriptor("__annotations__"))

    def __init__(self, wrapped: object) -> None:
        # wrapt's C __init__ stores the target in its own slot (no __setattr__), then copies the target's
        # __module__ and __doc__ into the proxy's private dict; those copies are the target's, so drop them.
        _wrapt_init(self, wrapped)
        _own_dict(self).clear()

    def __getattribute__(self, name: str) -> Any:
        if name == "__class__":
            return type(self)
        raise _scope(self).deny(name)

    def __getattr__(self, name: str) -> NoReturn:
        raise _scope(self).deny(name)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise _scope(self).deny(name, grantable=False)

    def __delattr__(self, name: str) -> NoReturn:
        raise _scope(self).deny(name, grantable=False)

    def __repr__(self) -> str:
        shown: str = type(self)._proxy_repr
        return shown

    def __str__(self) -> str:
        shown: str = type(self)._proxy_repr
        return shown

    def __dir__(self) -> list[str]:
        return list(type(self)._proxy_dir)

    def __hash__(self) -> int:
        return object.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __bool__(self) -> bool:
        return True


type.__setattr__(HardenedProxy, "__annotations__", _denying_descriptor("__annotations__"))


def harden(
    base: type[HardenedProxy],
    name: str,
    scope: DenialScope,
    *,
    shown: str,
    listed: Iterable[str] = (),
    namespace: dict[str, object] | None = None,
) -> type[HardenedProxy]:
    """A one-proxy subclass of ``base`` carrying ``scope`` (denials), ``shown`` (repr) and ``listed`` (dir)."""
    attrs: dict[str, object] = {
        "__slots__": (),
        "__module__": "proxies",
        "_proxy_scope": scope,
        "_proxy_repr": shown,
        "_proxy_dir": tuple(sorted(listed)),
        **(namespace or {}),
    }
    return type(name, (base,), attrs)


def is_hardened(obj: object) -> bool:
    """True for any proxy of this package (capability proxy or sealed call); never touches ``obj`` itself."""
    return issubclass(type(obj), HardenedProxy)


class Opaque:
    """What a proxy wraps in place of a host object: a holder none of whose attributes can be read.

    wrapt keeps a proxy's target in a C slot, and ``wrapt.ObjectProxy``'s own methods read it: calling one of them
    on a proxy (``wrapt.ObjectProxy.__getattr__(proxy, "x")``) is a plain base-class call that would reach the host
    object. Wrapping this holder instead, such a call reaches a holder that refuses every attribute; calling the
    holder calls what it holds. Only :func:`revealed` (or the slot's own descriptor, the same class of reach as
    ``object.__getattribute__``) gets the held object back."""

    __slots__ = ("_held",)

    def __new__(cls, held: object) -> Opaque:
        # Set in __new__, never in an __init__: calling __init__ again on a live holder would redirect its proxy.
        holder = object.__new__(cls)
        _set_held(holder, held)
        return holder

    def __getattribute__(self, name: str) -> NoReturn:
        raise AttributeError(f"{name}: a sealed holder has no attributes")

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return _get_held(self)(*args, **kwargs)

    def __repr__(self) -> str:
        return "<sealed>"


_get_held: Callable[[Opaque], Any] = Opaque.__dict__["_held"].__get__
_set_held: Callable[[Opaque, object], None] = Opaque.__dict__["_held"].__set__
delattr(Opaque, "_held")  # the slot's descriptor goes from the class: type(holder)._held leads nowhere now


def revealed(proxy: object) -> Any:
    """The host object behind a proxy or sealed call of this package (host-side glue and tests only)."""
    held = wrapped_of(proxy)
    return _get_held(held) if type(held) is Opaque else held

"""``capability_proxy``: one capability surface as one plugin sees it.

Granted members are resolved once, when the proxy is built, into a per-proxy table; a read is one dict lookup in
the generated class's ``__getattribute__`` (its table is bound as a default argument, the fastest local there is).
Anything not in the table is denied, reported and raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from proxies._denied import DenialScope, PermissionDenied
from proxies._hardened import HardenedProxy, Opaque, harden, is_hardened, revealed
from proxies._sanitize import CallScope
from proxies._sealed import opaque, seal, sealed_class

__all__ = ["PROTOCOL", "CapabilityProxy", "capability_proxy", "capability_proxy_class", "is_capability_proxy"]

PROTOCOL = frozenset(
    {
        "__aenter__",
        "__aexit__",
        "__call__",
        "__contains__",
        "__enter__",
        "__exit__",
        "__getitem__",
        "__iter__",
        "__len__",
    }
)
"""Special methods ``grants`` may name: when granted they forward (sealed) to the target instead of denying."""

_MISSING: Any = object()


class CapabilityProxy(HardenedProxy):
    """Base of every capability proxy (the generated per-proxy classes derive from it)."""

    __slots__ = ()


def capability_proxy(
    target: object,
    *,
    plugin_id: str,
    capability: str,
    grants: Mapping[str, str | None],
    requires: Mapping[str, str],
    on_denied: Callable[[PermissionDenied], None] | None = None,
) -> object:
    """Wrap ``target`` so ``plugin_id`` reaches exactly the members in ``grants``.

    ``grants`` maps member name → the permission that granted it (``None``: always granted); ``requires`` maps
    member name → the permission that *would* grant it, for denial messages. Granted non-callables (and other
    proxies) are handed out as they are: the host guarantees they are immutable. Granted callables are handed out
    as sealed calls. Private and special names cannot be granted, except the special methods in
    :data:`PROTOCOL`. Every other read, every write, and every special method raises :class:`PermissionDenied`
    after ``on_denied`` (or a warning on the ``proxies`` logger) has been told; a failing ``on_denied`` is logged
    and the denial raised all the same.

    A sealed call returns the host's result, or raises a sanitized copy of its error (no traceback, cause or
    context; unexpected errors become ``CapabilityError`` naming only their type). When the host method is
    async, the call returns a plain ``asyncio.Future`` (never the host coroutine) settled from a task on the
    running loop. If the plugin's await is cancelled, that host task is not cancelled: it may run to completion.
    A result that *is* the target (``__enter__`` returning ``self``) is handed back as this proxy.
    """
    scope = DenialScope(plugin_id, capability, MappingProxyType(dict(requires)), opaque(on_denied))
    calls: list[CallScope] = []
    members = {name: _resolve(target, name, scope, calls) for name in grants}
    cls = _capability_class(scope, members)
    proxy = cls(Opaque(target))  # never the target itself: wrapt's own methods read what a proxy wraps
    members["__class__"] = cls  # the proxy's own class, read like any member
    for call in calls:
        call.bind(proxy, target)
    return proxy


def capability_proxy_class(
    *,
    plugin_id: str,
    capability: str,
    grants: Mapping[str, str | None],
    requires: Mapping[str, str],
    on_denied: Callable[[PermissionDenied], None] | None = None,
) -> Callable[[object], object]:
    """A proxy class for many short-lived targets of one kind (one per call, say): ``make = capability_proxy_class(
    ...)`` once, then ``make(target)`` per target, which costs one proxy instance instead of a class.

    Same rules as :func:`capability_proxy`, with members looked up on the target when read: a granted method comes
    back as a sealed call (of a class made once per member), a granted value as it is. Special methods cannot be
    granted here, and a method's result is handed back as it is (so a target must not return itself)."""
    scope = DenialScope(plugin_id, capability, MappingProxyType(dict(requires)), opaque(on_denied))
    for name in grants:
        if name.startswith("_"):
            raise ValueError(f"{capability}.{name} cannot be granted: private and special members never are")
    sealed = {name: sealed_class(CallScope(plugin_id, capability, name), scope.on_denied) for name in grants}

    def __getattribute__(self: object, name: str, _get: Any = sealed.get, _miss: Any = _MISSING) -> Any:
        cls = _get(name, _miss)
        if cls is _miss:
            if name == "__class__":
                return type(self)
            raise type(self)._proxy_scope.deny(name)  # type: ignore[attr-defined]
        value = getattr(revealed(self), name)
        return cls(Opaque(value)) if callable(value) and not is_hardened(value) else value

    shown = f"<{capability} capability of plugin {plugin_id!r}>"
    namespace: dict[str, object] = {"__getattribute__": __getattribute__}
    cls = harden(CapabilityProxy, _class_name(capability), scope, shown=shown, listed=grants, namespace=namespace)

    def make(target: object) -> object:
        return cls(Opaque(target))

    return make


def is_capability_proxy(obj: object) -> bool:
    """True when ``obj`` is a capability proxy; decided from its real type, so ``obj`` itself is never touched."""
    return issubclass(type(obj), CapabilityProxy)


def _resolve(target: object, name: str, scope: DenialScope, calls: list[CallScope]) -> object:
    if name.startswith("_") and name not in PROTOCOL:
        raise ValueError(f"{scope.capability}.{name} cannot be granted: private and special members never are")
    value = getattr(target, name)
    if is_hardened(value) or not callable(value):
        return value
    call = CallScope(scope.plugin_id, scope.capability, name)
    calls.append(call)
    if name == "__iter__":
        value = _materialized(value)
    return seal(value, call, scope.on_denied)


def _materialized(iterate: Callable[[], Iterable[object]]) -> Callable[[], Iterator[object]]:
    # A host iterator (a generator, say) is a live host frame; the plugin iterates over a finished tuple instead,
    # and anything the host raises while iterating is raised inside the sealed call, so it is sanitized.
    def materialize() -> Iterator[object]:
        return iter(tuple(iterate()))

    return materialize


def _capability_class(scope: DenialScope, members: dict[str, object]) -> type[HardenedProxy]:
    def __getattribute__(self: object, name: str, _get: Any = members.get, _miss: Any = _MISSING) -> Any:
        value = _get(name, _miss)
        if value is not _miss:
            return value
        del _get  # a denial's traceback must not lead back to the member table
        raise type(self)._proxy_scope.deny(name)  # type: ignore[attr-defined]

    namespace: dict[str, object] = {"__getattribute__": __getattribute__}
    for name in PROTOCOL.intersection(members):
        namespace[name] = _forwarder(name, members[name])
    shown = f"<{scope.capability} capability of plugin {scope.plugin_id!r}>"
    return harden(
        CapabilityProxy, _class_name(scope.capability), scope, shown=shown, listed=members, namespace=namespace
    )


def _forwarder(name: str, sealed: Any) -> Callable[..., Any]:
    def forward(self: object, /, *args: Any, **kwargs: Any) -> Any:
        return sealed(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    return forward


def _class_name(capability: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", capability)
    return "".join(word[:1].upper() + word[1:] for word in words) + "Capability"

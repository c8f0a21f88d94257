"""Sealed calls: how a granted method reaches plugin code (red-team items 3, 8 and 9).

A plugin never holds a bound method of a host object (its ``__self__`` is the host object, its ``__func__`` leads
to the host module's globals). It holds a :class:`SealedCall`: a hardened proxy around that method which can be
called and nothing else. Calling it returns the result, or raises a sanitized exception (see :mod:`._sanitize`)
outside any ``except`` block and from a frame with no local referring to the target.

A host method that returns a coroutine (or a future) is run as a task on the running loop; the plugin gets a plain
``asyncio.Future`` settled by a done-callback, which holds no reference to the task or the coroutine. If the plugin
stops waiting (its await is cancelled), the host task is *not* cancelled and may run to completion: a half-done
host write is worse than a finished one nobody waits for.
"""

from __future__ import annotations

import asyncio
import functools
import types
from collections.abc import Callable
from typing import Any

from proxies._denied import DenialScope, PermissionDenied
from proxies._hardened import HardenedProxy, Opaque, harden, is_hardened, wrapped_of
from proxies._sanitize import CallScope, detached, sanitize

__all__ = ["SealedCall", "opaque", "seal", "sealed_class"]

_HOST_AWAITABLES = (types.CoroutineType, asyncio.Future)
_RUNNING: set[asyncio.Future[Any]] = set()  # strong references: the loop keeps only weak ones to its tasks


class SealedCall(HardenedProxy):
    """A granted callable as plugin code holds it: ``m(...)`` works, ``m.<anything>`` raises PermissionDenied."""

    __slots__ = ()  # harden() sets _proxy_call (a CallScope) on each generated class; see HardenedProxy

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        call: CallScope = type(self)._proxy_call
        error: Exception | None
        fn = wrapped_of(self)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            error = sanitize(exc, call)
        else:
            del fn
            if not isinstance(result, _HOST_AWAITABLES):
                return result if id(result) != call.target_id else call.stand_in  # CallScope.returned, inlined
            result, error = _detach(result, call)
            if error is None:
                return result
        # Raised here, after the except block, so the host's exception does not become its __context__; and from
        # a frame with no local that leads to the target (the except block clears `exc`; `fn`, `result` go now).
        fn = result = None
        raise error


def seal(fn: Callable[..., Any], call: CallScope, on_denied: Callable[[PermissionDenied], None] | None) -> SealedCall:
    """Wrap ``fn`` (a bound method of a host object) as a sealed call for one plugin."""
    sealed: SealedCall = sealed_class(call, on_denied)(Opaque(fn))
    return sealed


def sealed_class(call: CallScope, on_denied: Callable[[PermissionDenied], None] | None) -> type[SealedCall]:
    """The class of the sealed calls of one member for one plugin: made once, instantiated per bound method."""
    scope = DenialScope(call.plugin_id, call.capability, {}, opaque(on_denied), prefix=f"{call.member}.")
    shown = f"<sealed call {call} of plugin {call.plugin_id!r}>"
    cls: type[SealedCall] = harden(SealedCall, "SealedCall", scope, shown=shown, namespace={"_proxy_call": call})
    return cls


def opaque(fn: Callable[[PermissionDenied], None] | None) -> Callable[[PermissionDenied], None] | None:
    """The host's denial callback as a proxy's class keeps it: sealed, so that walking a proxy's plain attributes
    (``type(proxy)._proxy_scope.on_denied``) stops at a call that can only be called, not at a bound method whose
    ``__self__`` is the host's health book."""
    if fn is None or is_hardened(fn):
        return fn
    reporter: Callable[[PermissionDenied], None] = sealed_class(CallScope("host", "proxies", "on_denied"), None)(
        Opaque(fn)
    )
    return reporter


def _detach(awaitable: Any, call: CallScope) -> tuple[asyncio.Future[Any] | None, Exception | None]:
    """Run the host's awaitable as a task; hand back a plain future the task's done-callback settles."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        if isinstance(awaitable, types.CoroutineType):
            awaitable.close()  # never started: closing it keeps "coroutine was never awaited" out of the logs
        return None, detached(RuntimeError(f"{call} is asynchronous: call it inside a running event loop"))
    task = asyncio.ensure_future(awaitable)
    _RUNNING.add(task)
    plain: asyncio.Future[Any] = loop.create_future()
    task.add_done_callback(functools.partial(_settle, plain, call))
    return plain, None


def _settle(plain: asyncio.Future[Any], call: CallScope, task: asyncio.Future[Any]) -> None:
    _RUNNING.discard(task)
    if task.cancelled():
        plain.cancel()
        return
    exc = task.exception()  # retrieved even when nobody waits any more, so asyncio does not log it as lost
    if plain.done():  # the plugin stopped waiting
        return
    if exc is None:
        plain.set_result(call.returned(task.result()))
    else:
        plain.set_exception(sanitize(exc, call))

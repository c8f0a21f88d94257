"""Sealed calls: a granted method can be called and nothing else; what comes back holds nothing of the host.

Red-team items 3 (a method leads back to its object), 8 (errors carry host frames) and 9 (async hands out host
coroutines), each tried by a plugin against the ``Vault`` of ``conftest``.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import pickle
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from proxies import CapabilityError, PermissionDenied
from tests.proxies.conftest import (
    PLUGIN,
    SQL,
    HostNamespaceViolation,
    HostNotFound,
    HostValidationError,
    MakeProxy,
    Vault,
    host_objects,
    plugin_call,
    traceback_frames,
)


def test_a_sealed_call_returns_the_result(make_proxy: MakeProxy) -> None:
    assert make_proxy().read("b") == 2


def test_a_method_returning_its_own_object_hands_back_the_proxy(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    assert proxy.itself() is proxy


# -- red-team 3: from a method back to the host ----------------------------------------------------------------------
REACH_BACK = [
    "__self__",
    "__func__",
    "__wrapped__",
    "__closure__",
    "__globals__",
    "__code__",
    "__defaults__",
    "__kwdefaults__",
    "__dict__",
    "__self_dict__",
    "__name__",
    "__qualname__",
    "__module__",
    "__doc__",
    "__call__",
    "__get__",
    "__reduce__",
    "_self_fn",
]


@pytest.mark.parametrize("name", REACH_BACK)
def test_red_team_3_a_sealed_call_leads_back_to_nothing(
    make_proxy: MakeProxy, denials: list[PermissionDenied], name: str
) -> None:
    method = make_proxy().read
    with pytest.raises(PermissionDenied):
        getattr(method, name)
    assert [(d.plugin_id, d.capability, d.member, d.permission) for d in denials] == [
        (PLUGIN, "vault", f"read.{name}", None)
    ]


def test_red_team_3_a_sealed_call_shows_and_lists_nothing_of_the_method(make_proxy: MakeProxy) -> None:
    method = make_proxy().read
    assert dir(method) == []
    assert repr(method) == "<sealed call vault.read of plugin 'weather'>"
    assert method.__class__ is type(method) and not isinstance(method, types.MethodType)


@pytest.mark.parametrize(
    "copier", [pickle.dumps, copy.copy, copy.deepcopy, vars], ids=["pickle", "copy", "deepcopy", "vars"]
)
def test_red_team_3_a_sealed_call_cannot_be_copied_or_opened(
    make_proxy: MakeProxy, copier: Callable[[Any], object]
) -> None:
    with pytest.raises(PermissionDenied):
        copier(make_proxy().read)


def test_red_team_3_a_sealed_call_cannot_be_changed(make_proxy: MakeProxy) -> None:
    method = make_proxy().read
    with pytest.raises(PermissionDenied):
        method.__wrapped__ = print
    with pytest.raises(PermissionDenied):
        del method.__self__
    assert method("a") == 1


# -- red-team 8: errors from granted calls --------------------------------------------------------------------------
def _assert_detached(exc: BaseException) -> None:
    assert exc.__cause__ is None and exc.__context__ is None and exc.__suppress_context__
    for name, f_locals in traceback_frames(exc):
        assert host_objects(list(f_locals.values())) == [], name
        assert name not in {"fail", "fetch_fail"}, "a host frame is on the plugin's traceback"


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [("runtime", "RuntimeError"), ("caused", "ConnectionError"), ("validation", "HostValidationError")],
)
def test_red_team_8_an_unexpected_host_error_is_reduced_to_its_type(
    make_proxy: MakeProxy, kind: str, error_type: str
) -> None:
    exc = plugin_call(make_proxy().fail, kind)
    assert type(exc) is CapabilityError
    assert SQL not in str(exc) and "s3cr3t" not in repr(exc.args)
    assert (exc.capability, exc.member, exc.plugin_id) == ("vault", "fail", PLUGIN)
    assert exc.error_type == error_type  # the raised error's own type, not its cause's or context's
    _assert_detached(exc)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("value", ValueError("bad value")),
        ("type", TypeError("bad type")),
        ("key", KeyError("missing")),
        ("lookup", LookupError("not there")),
        ("index", IndexError("out of range")),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_red_team_8_builtin_argument_errors_cross_with_their_message_only(
    make_proxy: MakeProxy, kind: str, expected: Exception
) -> None:
    exc = plugin_call(make_proxy().fail, kind)
    assert type(exc) is type(expected) and exc.args == expected.args
    _assert_detached(exc)


def test_red_team_8_a_host_permission_denied_crosses_with_its_fields_and_class(make_proxy: MakeProxy) -> None:
    exc = plugin_call(make_proxy().fail, "denied")
    assert type(exc) is HostNamespaceViolation
    assert (exc.plugin_id, exc.permission, exc.capability, exc.member) == (
        "weather",
        "session:write",
        "session",
        "plugin:other:x",
    )
    _assert_detached(exc)


def test_red_team_8_a_plugin_safe_host_error_crosses_with_its_fields(make_proxy: MakeProxy) -> None:
    exc = plugin_call(make_proxy().fail, "not_found")
    assert type(exc) is HostNotFound
    assert str(exc) == "world 9 not found" and exc.world_id == 9
    _assert_detached(exc)


def test_red_team_8_the_raising_frame_holds_no_reference_to_the_target(make_proxy: MakeProxy) -> None:
    exc = plugin_call(make_proxy().fail, "runtime")
    frames = dict(traceback_frames(exc))
    assert set(frames) == {"plugin_call", "__call__"}  # the plugin's frame and the sealed call's, nothing deeper
    assert "fn" not in frames["__call__"] or frames["__call__"]["fn"] is None
    assert "exc" not in frames["__call__"]


def test_keyboard_interrupt_is_not_a_call_failure_and_passes_through(make_proxy: MakeProxy) -> None:
    """Only ``Exception`` is sanitized: KeyboardInterrupt and SystemExit mean 'stop', not 'this call failed'."""
    exc = plugin_call(make_proxy().fail, "keyboard")
    assert type(exc) is KeyboardInterrupt


# -- red-team 9: async capability calls ------------------------------------------------------------------------------
def _walk(obj: object) -> list[object]:
    """The future, its referents (one level) and its public attributes' values."""
    attributes = [getattr(obj, name, None) for name in dir(obj) if not name.startswith("__")]
    return [obj, *gc.get_referents(obj), *(a for a in attributes if not callable(a))]


async def test_red_team_9_an_async_call_returns_a_plain_future_holding_nothing_of_the_host(
    make_proxy: MakeProxy,
) -> None:
    pending = make_proxy().fetch("a")
    assert not asyncio.iscoroutine(pending) and type(pending) is asyncio.Future
    assert host_objects(_walk(pending)) == []
    assert await pending == {"key": "a", "value": 1}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("runtime", CapabilityError), ("key", KeyError), ("not_found", HostNotFound), ("denied", HostNamespaceViolation)],
)
async def test_red_team_9_an_async_error_is_sanitized_like_a_sync_one(
    make_proxy: MakeProxy, kind: str, expected: type[Exception]
) -> None:
    pending = make_proxy().fetch_fail(kind)
    with pytest.raises(expected) as raised:
        await pending
    assert SQL not in str(raised.value)
    _assert_detached(raised.value)
    assert host_objects(_walk(pending)) == []


async def test_red_team_9_a_validation_error_from_an_async_call_loses_its_message(make_proxy: MakeProxy) -> None:
    with pytest.raises(CapabilityError, match=HostValidationError.__name__) as raised:
        await make_proxy().fetch_fail("validation")
    assert SQL not in str(raised.value)


async def test_cancelling_the_plugins_await_lets_the_host_task_finish(make_proxy: MakeProxy) -> None:
    done = asyncio.Event()
    pending = make_proxy().slow(done)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pending, timeout=0.001)
    assert pending.cancelled()
    await asyncio.wait_for(done.wait(), timeout=1)  # the host task ran on, to completion


def test_an_async_call_without_a_running_loop_is_refused_and_leaves_no_coroutine(make_proxy: MakeProxy) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be a RuntimeWarning
        exc = plugin_call(make_proxy().fetch, "a")
        gc.collect()
    assert type(exc) is RuntimeError and "running event loop" in str(exc)
    _assert_detached(exc)


def test_sealed_calls_of_a_vault_never_hand_out_bound_methods(make_proxy: MakeProxy, vault: Vault) -> None:
    proxy = make_proxy()
    granted = ["fail", "fetch", "fetch_fail", "itself", "label", "read", "slow"]  # conftest's GRANTS, ASYNC_GRANTS
    assert dir(proxy) == granted
    for name in granted:
        member = getattr(proxy, name)
        assert not isinstance(member, types.MethodType | types.FunctionType), name
        assert member is not vault

"""Red-team item 10: what in-process proxies cannot stop, stated as tests that succeed at the attack (and the
plain-attribute and base-class paths that used to reach the target, now closed).

These are not loopholes left open by accident. CPython has no in-process sandbox: code in the same interpreter can
always walk from an object to its type's descriptors and closures, to the garbage collector's graph, to frames. The
proxies stop mistakes (a plugin that reads ``ctx.world.__wrapped__`` or keeps a bound method gets a loud
``PermissionDenied``), not malice; that is why the host refuses ``trust: community`` plugins in-process and runs
them out of process. If one of these tests starts failing, CPython or wrapt changed: re-read the threat model
before rejoicing.
"""

from __future__ import annotations

import asyncio
import gc
import inspect

import pytest
import wrapt

from proxies import PermissionDenied
from tests.proxies.conftest import MakeProxy, Vault

WRAPPED = inspect.getattr_static(wrapt.ObjectProxy, "__wrapped__")  # wrapt's C-level descriptor of its target slot


def test_wrapts_own_descriptor_reaches_only_a_holder_with_no_attributes(make_proxy: MakeProxy, vault: Vault) -> None:
    """Closed: the C-level ``__wrapped__`` of ``wrapt.ObjectProxy`` reads the slot, and the slot holds an opaque
    holder, not the host object; nothing of the holder can be read."""
    held = WRAPPED.__get__(make_proxy())
    assert held is not vault
    with pytest.raises(AttributeError):
        held.secret_session  # noqa: B018
    assert inspect.getattr_static(type(held), "_held", None) is None  # the slot's descriptor is gone from the class


def test_wrapts_base_class_methods_reach_nothing_of_the_target(make_proxy: MakeProxy, vault: Vault) -> None:
    """Closed: calling a base class's method directly skips the proxy class's gate, but what wrapt forwards to is
    the holder."""
    proxy = make_proxy()
    with pytest.raises(AttributeError):
        wrapt.ObjectProxy.__getattr__(proxy, "secret_session")
    with pytest.raises(AttributeError):
        WRAPPED.__get__(make_proxy().read).__self__  # noqa: B018  # a sealed call's holder: no bound method


def test_the_proxy_class_leads_to_no_bound_method_of_the_hosts_denial_callback(
    make_proxy: MakeProxy, denials: list[PermissionDenied]
) -> None:
    """Closed: ``on_denied`` (usually a bound method of the host's health book) is kept sealed on the class."""
    on_denied = type(make_proxy())._proxy_scope.on_denied
    with pytest.raises(PermissionDenied):
        on_denied.__self__  # noqa: B018


def test_red_team_10_the_garbage_collector_still_reaches_the_target(make_proxy: MakeProxy, vault: Vault) -> None:
    held = next(o for o in gc.get_referents(make_proxy()) if type(o).__name__ == "Opaque")
    assert vault in gc.get_referents(held)


def test_red_team_10_the_proxy_class_still_leads_to_the_member_table(make_proxy: MakeProxy, vault: Vault) -> None:
    """Per-proxy state lives on the generated class (special methods are looked up there), so ``type(p)`` leads
    to it: the member table bound into ``__getattribute__``, which holds only what the plugin was granted."""
    proxy = make_proxy()
    member_table = type(proxy).__dict__["__getattribute__"].__defaults__[0].__self__
    assert member_table["label"] is vault.label


def test_red_team_10_the_packages_own_internals_still_reveal_the_target(make_proxy: MakeProxy, vault: Vault) -> None:
    """Importing this package's private module and calling its helper is the ``sys.modules`` class of reach."""
    from proxies._hardened import revealed

    assert revealed(make_proxy()) is vault


async def test_red_team_10_the_event_loop_still_lists_the_host_task(make_proxy: MakeProxy) -> None:
    """The plain future holds nothing of the host, but the loop is interpreter-wide state: ``all_tasks()`` lists
    the task running the host coroutine, like ``sys.modules`` lists the host's modules."""
    pending = make_proxy().fetch("a")
    coroutines = [task.get_coro() for task in asyncio.all_tasks()]
    assert any(getattr(coro, "__qualname__", "") == "Vault.fetch" for coro in coroutines)
    await pending

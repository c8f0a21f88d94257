"""Red-team item 10: what in-process proxies cannot stop, stated as tests that succeed at the attack.

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

import wrapt

from proxies import PermissionDenied
from tests.proxies.conftest import MakeProxy, Vault

WRAPPED = inspect.getattr_static(wrapt.ObjectProxy, "__wrapped__")  # wrapt's C-level descriptor of its target slot


def test_red_team_10_wrapts_own_descriptor_still_reaches_the_target(make_proxy: MakeProxy, vault: Vault) -> None:
    """The C-level ``__wrapped__`` of ``wrapt.ObjectProxy`` reads the slot directly; no subclass can shadow that."""
    assert WRAPPED.__get__(make_proxy()) is vault


def test_red_team_10_the_garbage_collector_still_reaches_the_target(make_proxy: MakeProxy, vault: Vault) -> None:
    assert vault in gc.get_referents(make_proxy())


def test_red_team_10_the_proxy_class_still_leads_to_the_member_table(make_proxy: MakeProxy, vault: Vault) -> None:
    """Per-proxy state lives on the generated class (special methods are looked up there), so ``type(p)`` leads
    to it: here, the member table bound into ``__getattribute__``."""
    proxy = make_proxy()
    member_table = type(proxy).__dict__["__getattribute__"].__defaults__[0].__self__
    assert member_table["label"] is vault.label


def test_red_team_10_a_sealed_calls_method_is_still_reachable_through_wrapt(
    make_proxy: MakeProxy, vault: Vault
) -> None:
    assert WRAPPED.__get__(make_proxy().read).__self__ is vault


def test_red_team_10_wrapts_base_class_methods_still_forward(make_proxy: MakeProxy, vault: Vault) -> None:
    """Calling a base class's method directly skips the proxy class's own gate: wrapt's C ``__getattr__`` reads
    from the target. ``super(...)`` chains reach it the same way."""
    proxy = make_proxy()
    assert wrapt.ObjectProxy.__getattr__(proxy, "secret_session") is vault.secret_session


def test_red_team_10_the_proxy_class_still_leads_to_the_hosts_denial_callback(
    make_proxy: MakeProxy, denials: list[PermissionDenied]
) -> None:
    """``on_denied`` is usually a bound method of a host object (health, metrics); the class holds it."""
    assert type(make_proxy())._proxy_scope.on_denied.__self__ is denials


async def test_red_team_10_the_event_loop_still_lists_the_host_task(make_proxy: MakeProxy) -> None:
    """The plain future holds nothing of the host, but the loop is interpreter-wide state: ``all_tasks()`` lists
    the task running the host coroutine, like ``sys.modules`` lists the host's modules."""
    pending = make_proxy().fetch("a")
    coroutines = [task.get_coro() for task in asyncio.all_tasks()]
    assert any(getattr(coro, "__qualname__", "") == "Vault.fetch" for coro in coroutines)
    await pending

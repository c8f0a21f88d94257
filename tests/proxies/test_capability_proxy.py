"""Capability proxies: granted members read exactly; everything else is denied, reported and raised.

Red-team items 1, 2, 4, 5, 6 and 7, each tried by a plugin against the ``Vault`` of ``conftest``. How fast a granted
read is (at most 10x a plain read) is a ``make bench`` row (``bench/bench_proxies.py``), not a wall-clock test.
"""

from __future__ import annotations

import copy
import logging
import math
import operator
import pickle
import types
from collections.abc import Callable
from typing import Any

import pytest
import wrapt

from proxies import PermissionDenied, capability_proxy, is_capability_proxy
from proxies._hardened import CLASS_MACHINERY, DENIED, IMPLEMENTED, revealed
from tests.proxies.conftest import PLUGIN, REQUIRES, MakeProxy, Secret, Vault, host_objects, traceback_frames


# -- granted members -----------------------------------------------------------------------------------------------
def test_a_granted_value_is_returned_as_is(make_proxy: MakeProxy, vault: Vault) -> None:
    assert make_proxy().label is vault.label


def test_a_granted_capability_proxy_is_returned_as_is(make_proxy: MakeProxy) -> None:
    inner = make_proxy()
    holder = types.SimpleNamespace(vault=inner)
    outer: Any = capability_proxy(holder, plugin_id=PLUGIN, capability="ctx", grants={"vault": None}, requires={})
    assert outer.vault is inner


def test_a_granted_method_is_a_cached_sealed_call_not_a_bound_method(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    method = proxy.read
    assert method is proxy.read
    assert not isinstance(method, types.MethodType)
    assert method("a") == 1


def test_granted_members_are_resolved_once_when_the_proxy_is_built(make_proxy: MakeProxy, vault: Vault) -> None:
    proxy = make_proxy()
    vault.label = "replaced later"
    assert proxy.label == "vault"


def test_private_and_special_members_cannot_be_granted(vault: Vault) -> None:
    for name in ("_leak", "__dict__", "__wrapped__", "__class__"):
        with pytest.raises(ValueError, match="cannot be granted"):
            capability_proxy(vault, plugin_id=PLUGIN, capability="vault", grants={name: None}, requires={})


def test_building_a_proxy_reports_no_denial(make_proxy: MakeProxy, denials: list[PermissionDenied]) -> None:
    """wrapt's own __init__ stores the target without going through the proxy's (denying) __setattr__."""
    make_proxy()
    assert denials == []


def test_a_proxy_is_a_wrapt_object_proxy_but_not_an_instance_of_its_target(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    assert isinstance(proxy, wrapt.ObjectProxy)
    assert not isinstance(proxy, Vault)


def test_is_capability_proxy_tells_proxies_apart_without_touching_them(
    make_proxy: MakeProxy, vault: Vault, denials: list[PermissionDenied]
) -> None:
    proxy = make_proxy()
    assert is_capability_proxy(proxy)
    assert not is_capability_proxy(vault)
    assert not is_capability_proxy(proxy.read)  # a sealed call is not a capability
    assert denials == []


# -- red-team 1: reaching behind the proxy -------------------------------------------------------------------------
BEHIND = [
    "__wrapped__",
    "_self_target",
    "_self_",
    "__dict__",
    "__self_dict__",
    "__object_proxy__",
    "__module__",
    "__doc__",
    "__annotations__",
    "__name__",
    "__qualname__",
    "__weakref__",
    "__getattribute__",
    "__init__",
    "__reduce__",
    "__slots__",
    "_proxy_scope",
    "secret_session",
    "items",
    "_leak",
    "no_such_member",
]


@pytest.mark.parametrize("name", BEHIND)
def test_red_team_1_reading_behind_the_proxy_is_denied_and_reported(
    make_proxy: MakeProxy, denials: list[PermissionDenied], name: str
) -> None:
    proxy = make_proxy()
    with pytest.raises(PermissionDenied) as raised:
        getattr(proxy, name)
    assert denials == [raised.value]
    assert (raised.value.plugin_id, raised.value.capability, raised.value.member) == (PLUGIN, "vault", name)
    assert raised.value.permission == REQUIRES.get(name)


def test_red_team_1_vars_of_a_proxy_is_denied(make_proxy: MakeProxy, denials: list[PermissionDenied]) -> None:
    with pytest.raises(PermissionDenied, match=r"may not access vault\.__dict__"):
        vars(make_proxy())
    assert [d.member for d in denials] == ["__dict__"]


def test_red_team_1_getattr_with_a_default_does_not_swallow_the_denial(make_proxy: MakeProxy) -> None:
    with pytest.raises(PermissionDenied):
        getattr(make_proxy(), "__wrapped__", None)


@pytest.mark.parametrize("name", ["__wrapped__", "__dict__", "__self_dict__", "__annotations__", "__name__"])
def test_red_team_1_wrapts_forwarding_descriptors_are_denied_even_to_object_getattribute(
    make_proxy: MakeProxy, name: str
) -> None:
    """The class itself shadows wrapt's forwarding descriptors, not only the instance's attribute gate."""
    with pytest.raises(PermissionDenied):
        object.__getattribute__(make_proxy(), name)


def test_red_team_1_reading_the_proxy_classes_annotations_opens_no_way_to_the_instances_own(
    make_proxy: MakeProxy,
) -> None:
    """CPython stores a fresh ``{}`` in a class's own dict the first time its ``__annotations__`` is read: read on
    every class of a proxy's MRO, it must not come to shadow the denial for the instance."""
    proxy = make_proxy()
    for cls in type(proxy).__mro__:
        getattr(cls, "__annotations__", None)
    with pytest.raises(PermissionDenied):
        object.__getattribute__(proxy, "__annotations__")
    with pytest.raises(PermissionDenied):
        object.__getattribute__(make_proxy(), "__annotations__")


def test_red_team_3_a_proxys_sealed_holder_cannot_be_pointed_at_something_else(
    make_proxy: MakeProxy, vault: Vault
) -> None:
    """wrapt's base-class descriptor reaches the holder; calling the holder's ``__init__`` again would swap what
    the host finds behind the proxy (the engine takes an effect's writer back out of its proxy this way)."""
    proxy = make_proxy()
    holder = wrapt.ObjectProxy.__wrapped__.__get__(proxy)
    type(holder).__init__(holder, Vault())
    type(holder).__new__(type(holder), Vault())
    assert revealed(proxy) is vault


def test_a_denial_names_the_permission_that_would_grant_it(vault: Vault, denials: list[PermissionDenied]) -> None:
    proxy: Any = capability_proxy(
        vault, plugin_id=PLUGIN, capability="vault", grants={}, requires=REQUIRES, on_denied=denials.append
    )
    with pytest.raises(PermissionDenied, match=r"plugin 'weather' lacks permission 'vault:read' for vault\.read"):
        proxy.read  # noqa: B018
    assert denials[0].permission == "vault:read"


def test_without_a_callback_a_denial_is_logged_as_a_warning_naming_the_plugin(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    proxy: Any = capability_proxy(vault, plugin_id=PLUGIN, capability="vault", grants={}, requires={})
    with caplog.at_level(logging.WARNING, logger="proxies"), pytest.raises(PermissionDenied):
        proxy.secret_session  # noqa: B018
    [record] = caplog.records
    assert record.name == "proxies" and record.levelno == logging.WARNING
    assert "'weather'" in record.getMessage() and "secret_session" in record.getMessage()


def test_a_failing_on_denied_callback_does_not_break_the_denial(vault: Vault, caplog: pytest.LogCaptureFixture) -> None:
    def broken(exc: PermissionDenied) -> None:
        raise RuntimeError("metrics backend down")

    proxy: Any = capability_proxy(vault, plugin_id=PLUGIN, capability="vault", grants={}, requires={}, on_denied=broken)
    with caplog.at_level(logging.ERROR, logger="proxies"), pytest.raises(PermissionDenied) as raised:
        proxy.secret_session  # noqa: B018
    assert raised.value.__context__ is None
    assert "on_denied callback failed" in caplog.records[0].getMessage()


def test_a_denial_traceback_leads_to_no_target_and_no_member_table(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    try:
        proxy.secret_session  # noqa: B018
    except PermissionDenied as exc:
        denial = exc
    frames = list(traceback_frames(denial))[1:]  # below this test's own frame
    assert frames, "the denial was raised inside the proxy"
    for name, f_locals in frames:
        assert host_objects(list(f_locals.values())) == [], name
        assert not any(isinstance(v, dict | types.BuiltinMethodType) for v in f_locals.values()), name


# -- red-team 2: assigning and deleting ----------------------------------------------------------------------------
def _set(name: str, value: object) -> Callable[[Any], None]:
    return lambda proxy: setattr(proxy, name, value)


def _delete(name: str) -> Callable[[Any], None]:
    return lambda proxy: delattr(proxy, name)


WRITES = {
    "assign-granted": (_set("label", "x"), "label"),
    "assign-new": (_set("x", 1), "x"),
    "assign-secret": (_set("secret_session", None), "secret_session"),
    "assign-wrapped": (_set("__wrapped__", object()), "__wrapped__"),
    "assign-self-attr": (_set("_self_target", object()), "_self_target"),
    "assign-dict": (_set("__dict__", {}), "__dict__"),
    "assign-class": (_set("__class__", Vault), "__class__"),
    "delete-granted": (_delete("read"), "read"),
    "delete-secret": (_delete("secret_session"), "secret_session"),
    "delete-wrapped": (_delete("__wrapped__"), "__wrapped__"),
}


@pytest.mark.parametrize(("write", "member"), WRITES.values(), ids=WRITES.keys())
def test_red_team_2_assigning_or_deleting_is_denied_and_the_target_is_unchanged(
    make_proxy: MakeProxy, vault: Vault, denials: list[PermissionDenied], write: Callable[[Any], None], member: str
) -> None:
    proxy = make_proxy()
    before = dict(vars(vault))
    with pytest.raises(PermissionDenied, match="no permission grants it"):
        write(proxy)
    assert vars(vault) == before and type(vault) is Vault
    assert [(d.member, d.permission) for d in denials] == [(member, None)]
    assert proxy.label == "vault" and proxy.read("a") == 1


# -- red-team 4: the class ------------------------------------------------------------------------------------------
def test_red_team_4_class_is_the_proxys_own_named_after_the_capability(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    assert proxy.__class__ is type(proxy)
    assert proxy.__class__.__name__ == "VaultCapability"
    assert object.__getattribute__(proxy, "__class__") is type(proxy)
    assert not issubclass(proxy.__class__, Vault)


def test_red_team_4_class_of_a_multiword_capability_is_camel_cased(vault: Vault) -> None:
    proxy = capability_proxy(vault, plugin_id=PLUGIN, capability="npc_memory", grants={}, requires={})
    assert type(proxy).__name__ == "NpcMemoryCapability"


# -- red-team 5: operators and protocols -----------------------------------------------------------------------------
def _with(proxy: Any) -> None:
    with proxy:
        pass


def _set_item(proxy: Any) -> None:
    proxy["a"] = 99


def _del_item(proxy: Any) -> None:
    del proxy["a"]


def _in_place_add(proxy: Any) -> None:
    proxy += 1


def _subclass(proxy: Any) -> None:
    types.new_class("Sub", (proxy,))


OPERATIONS: dict[str, tuple[Callable[[Any], object], str]] = {
    "getitem": (lambda p: p["a"], "__getitem__"),
    "setitem": (_set_item, "__setitem__"),
    "delitem": (_del_item, "__delitem__"),
    "contains": (lambda p: "a" in p, "__contains__"),
    "len": (len, "__len__"),
    "iter": (iter, "__iter__"),
    "reversed": (reversed, "__reversed__"),
    "call": (lambda p: p(), "__call__"),
    "with": (_with, "__enter__"),
    "add": (lambda p: p + 1, "__add__"),
    "radd": (lambda p: 1 + p, "__radd__"),
    "iadd": (_in_place_add, "__iadd__"),
    "sub": (lambda p: p - 1, "__sub__"),
    "mul": (lambda p: p * 2, "__mul__"),
    "matmul": (lambda p: p @ 2, "__matmul__"),
    "truediv": (lambda p: p / 2, "__truediv__"),
    "floordiv": (lambda p: p // 2, "__floordiv__"),
    "mod": (lambda p: p % 2, "__mod__"),
    "divmod": (lambda p: divmod(p, 2), "__divmod__"),
    "pow": (lambda p: p**2, "__pow__"),
    "lshift": (lambda p: p << 1, "__lshift__"),
    "rshift": (lambda p: p >> 1, "__rshift__"),
    "and": (lambda p: p & 1, "__and__"),
    "or": (lambda p: p | 1, "__or__"),
    "xor": (lambda p: p ^ 1, "__xor__"),
    "neg": (operator.neg, "__neg__"),
    "pos": (operator.pos, "__pos__"),
    "abs": (abs, "__abs__"),
    "invert": (operator.invert, "__invert__"),
    "lt": (lambda p: p < 1, "__lt__"),
    "le": (lambda p: p <= 1, "__le__"),
    "gt": (lambda p: p > 1, "__gt__"),
    "ge": (lambda p: p >= 1, "__ge__"),
    "int": (int, "__int__"),
    "float": (float, "__float__"),
    "complex": (complex, "__complex__"),
    "index": (operator.index, "__index__"),
    "round": (round, "__round__"),
    "trunc": (math.trunc, "__trunc__"),
    "floor": (math.floor, "__floor__"),
    "ceil": (math.ceil, "__ceil__"),
    "bytes": (bytes, "__bytes__"),
    "format": (lambda p: format(p, "x"), "__format__"),
    "fstring": (lambda p: f"{p}", "__format__"),
    "isinstance-of-proxy": (lambda p: isinstance(1, p), "__instancecheck__"),
    "issubclass-of-proxy": (lambda p: issubclass(int, p), "__subclasscheck__"),
    "subclass-proxy": (_subclass, "__mro_entries__"),
}


@pytest.mark.parametrize(("operation", "member"), OPERATIONS.values(), ids=OPERATIONS.keys())
def test_red_team_5_operators_and_protocols_are_denied_unless_granted(
    make_proxy: MakeProxy,
    vault: Vault,
    denials: list[PermissionDenied],
    operation: Callable[[Any], object],
    member: str,
) -> None:
    proxy = make_proxy()
    with pytest.raises(PermissionDenied):
        operation(proxy)
    assert [d.member for d in denials] == [member]
    assert vault.items == {"a": 1, "b": 2}


async def test_red_team_5_async_with_is_denied_unless_granted(
    make_proxy: MakeProxy, denials: list[PermissionDenied]
) -> None:
    with pytest.raises(PermissionDenied):
        async with make_proxy():
            pass
    assert [d.member for d in denials] == ["__aenter__"]


def test_every_special_member_wrapt_defines_is_replaced() -> None:
    """Computed from wrapt itself: a wrapt release adding a forwarder cannot slip past the proxies."""
    proxy_type = type(capability_proxy(Vault(), plugin_id=PLUGIN, capability="vault", grants={}, requires={}))
    wrapt_classes = wrapt.ObjectProxy.__mro__[:-1]
    for klass in wrapt_classes:
        for name in vars(klass):
            if name.startswith("__") and name.endswith("__") and name not in CLASS_MACHINERY:
                owner = next(k for k in proxy_type.__mro__ if name in vars(k))
                assert owner not in wrapt_classes, name
                assert name in DENIED or name in IMPLEMENTED, name


@pytest.mark.parametrize("name", sorted(DENIED))
def test_every_denied_special_member_raises_when_used_directly(
    make_proxy: MakeProxy, denials: list[PermissionDenied], name: str
) -> None:
    proxy = make_proxy()
    member: Any = next(vars(k)[name] for k in type(proxy).__mro__ if name in vars(k))
    use: Callable[[Any], object] = member.__get__ if isinstance(member, property) else lambda p: member(p, 1, 2)
    with pytest.raises(PermissionDenied):
        use(proxy)
    assert [d.member for d in denials] == [name]


def test_granted_protocol_methods_forward_to_the_target(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(__len__=None, __getitem__=None, __contains__=None, __iter__=None)
    assert len(proxy) == 2
    assert proxy["b"] == 2
    assert "a" in proxy
    assert list(proxy) == ["a", "b"]


def test_a_granted_iteration_yields_from_a_finished_tuple_not_a_host_generator(make_proxy: MakeProxy) -> None:
    iterator = iter(make_proxy(__iter__=None))
    assert type(iterator).__name__ == "tuple_iterator"
    assert host_objects(list(iterator)) == []


def test_a_granted_call_is_sealed(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(__call__=None)
    assert isinstance(proxy(), Secret)  # the host chose to return it; the call itself went through sealed


def test_with_on_a_granted_context_manager_hands_back_the_proxy_not_the_target(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(__enter__=None, __exit__=None)
    with proxy as entered:
        assert entered is proxy


async def test_async_with_on_a_granted_context_manager_hands_back_the_proxy(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(__aenter__=None, __aexit__=None)
    async with proxy as entered:
        assert entered is proxy


# -- red-team 6: copying -----------------------------------------------------------------------------------------------
COPIERS = {
    "pickle": pickle.dumps,
    "pickle-protocol-0": lambda p: pickle.dumps(p, protocol=0),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "reduce_ex": lambda p: p.__reduce_ex__(2),
    "getstate": lambda p: p.__getstate__(),
}


@pytest.mark.parametrize("copier", COPIERS.values(), ids=COPIERS.keys())
def test_red_team_6_pickling_and_copying_are_refused(
    make_proxy: MakeProxy, denials: list[PermissionDenied], copier: Callable[[Any], object]
) -> None:
    with pytest.raises(PermissionDenied):
        copier(make_proxy())
    assert len(denials) == 1 and denials[0].plugin_id == PLUGIN


# -- red-team 7: dir and repr ----------------------------------------------------------------------------------------
def test_red_team_7_dir_lists_only_the_granted_names_sorted(make_proxy: MakeProxy) -> None:
    assert dir(make_proxy()) == ["fail", "fetch", "fetch_fail", "itself", "label", "read", "slow"]


def test_red_team_7_repr_and_str_show_no_target(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    assert repr(proxy) == str(proxy) == "<vault capability of plugin 'weather'>"
    assert "Vault" not in repr(proxy) and "secret" not in repr(proxy)


# -- identity ----------------------------------------------------------------------------------------------------------
def test_equality_and_hashing_are_by_identity(make_proxy: MakeProxy, vault: Vault) -> None:
    first, second = make_proxy(), make_proxy()
    assert first == first and first != second and first != vault
    assert len({first, second, first}) == 2


def test_a_proxy_is_always_truthy(make_proxy: MakeProxy, vault: Vault) -> None:
    vault.items.clear()  # bool() of a forwarding proxy would call len() on the empty vault
    assert bool(make_proxy())

"""Walks over plain attributes, for the tests that nothing of the host is reachable from what plugin code is handed.

A walk follows what plain attribute access reaches (``x.y`` for every name ``dir`` lists, the specials such as
``fn.__closure__`` and ``m.__self__``, container items and keys, our classes' own ``__dict__``) breadth first to the
end, and names every path that arrives at an object of the host (or at one of the ids in ``house``). What CPython
cannot stop in-process (``gc``, frames, modules) is not walked: only a process boundary stops that.
"""

from __future__ import annotations

import contextlib
import re
import types
import warnings
from collections.abc import Iterator, Set
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pixsim_hooks.backend import SqlStorage
from pixsim_hooks.backend._api._admin_sessions import MemorySessions
from pixsim_hooks.host import Breakers, HealthBook, PluginHost, Settings
from pixsim_hooks.plugin import BehaviorRegistry, ContextServices
from pixsim_hooks.telemetry import Telemetry

__all__ = ["HOST_TYPES", "edges", "host_paths"]

HOST_TYPES = (
    PluginHost,
    HealthBook,
    Breakers,
    Telemetry,
    Settings,
    BehaviorRegistry,
    ContextServices,
    SqlStorage,
    AsyncEngine,
    MemorySessions,
)
SPECIALS = ("__self__", "__func__", "__closure__", "__defaults__", "__kwdefaults__", "__wrapped__", "__mro__")
LEAVES = (str, bytes, int, float, complex, type(None), re.Pattern)
# What CPython cannot stop in-process (frames, coroutines, modules: the sys.modules class) and the C-level
# descriptors every object has, which hold nothing but their own type.
NOT_WALKED = (
    types.ModuleType,
    types.FrameType,
    types.CoroutineType,
    types.GeneratorType,
    types.AsyncGeneratorType,
    types.TracebackType,
    types.CodeType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)
OURS = {"pixsim_hooks", "tests", "proxies", "hookspecs", "contrib_plugins"}


def edges(obj: Any) -> Iterator[tuple[str, Any]]:
    """What plain attribute access reaches from ``obj``: ``x.y`` (every name ``dir`` lists), the specials
    (``fn.__closure__``, ``m.__self__``, ...), container items, and a class's own ``__dict__``. Library and builtin
    classes are not walked into: their attributes are functions and descriptors, never a running host object."""
    if isinstance(obj, types.BuiltinMethodType):
        yield "__self__", obj.__self__
        return
    if isinstance(obj, tuple | list | set | frozenset):
        yield from ((f"[{i}]", item) for i, item in enumerate(obj))
        return
    if isinstance(obj, dict | types.MappingProxyType):
        for key, value in list(obj.items()):
            yield f"[{key!r}]", value
            yield f"[key {key!r}]", key
        return
    if isinstance(obj, type):
        if obj.__module__.partition(".")[0] in OURS:
            yield from ((f".__dict__[{k!r}]", v) for k, v in vars(obj).items())
            yield "__mro__", obj.__mro__
        return
    if isinstance(obj, types.CellType):
        with contextlib.suppress(ValueError):  # an empty cell
            yield "cell_contents", obj.cell_contents
        return
    try:
        names = set(dir(obj))
    except BaseException:  # a proxy may refuse even this: then only the special names are tried
        names = set()
    for name in sorted(names | {*SPECIALS, "__class__", "__dict__"}):
        if name == "__globals__" or name.startswith("__subclass"):
            continue
        try:
            with warnings.catch_warnings():  # pydantic warns about its deprecated attributes as they are read
                warnings.simplefilter("ignore")
                child = getattr(obj, name)
        except BaseException:  # refused or missing: a dead end, which is the point
            continue
        yield name, child


def host_paths(start: object, label: str, house: Set[int] = frozenset(), *, limit: int = 200_000) -> Iterator[str]:
    """Paths of plain attributes from ``start`` to the main app or anything of the host (breadth first, to the
    end: a walk that stops at ``limit`` objects fails, so an empty answer means every path was followed)."""
    seen, frontier = {id(start)}, [(start, label)]
    while frontier:
        following = []
        for obj, path in frontier:
            for name, child in edges(obj):
                if id(child) in seen or isinstance(child, (*NOT_WALKED, *LEAVES)):
                    continue
                seen.add(id(child))
                assert len(seen) < limit, f"the walk from {label} did not finish within {limit} objects"
                step = f"{path}{name}" if name.startswith("[") else f"{path}.{name}"
                if id(child) in house or isinstance(child, HOST_TYPES):
                    yield f"{step} -> {type(child).__name__}"
                else:
                    following.append((child, step))
        frontier = following

"""Read-only values handed to plugins: JSON as :class:`FrozenDict` and tuples, records as :func:`immutable` classes.

One snapshot, view or event is read by several plugins and by the core (and an API response may be built from the
same data), so "read-only" has to hold against the base classes' own methods, not only against ``x[k] = v``:

- :class:`FrozenDict` is a :class:`~collections.abc.Mapping`, not a ``dict`` subclass (``dict.__setitem__(d, …)``
  would change a subclass). Its items live in a slot whose descriptor is taken off the class, so neither
  ``object.__setattr__`` nor a look-alike class assigned to ``__class__`` reaches them.
- An :func:`immutable` class is a frozen, slotted dataclass whose fields are read-only properties over slots whose
  descriptors are likewise taken off the class: ``object.__setattr__(snapshot, "flags", …)`` — the usual way round
  ``frozen=True`` — raises, and so do ``__init__`` called again, ``__setstate__`` and ``__class__`` assignment.

What stays open is what CPython cannot close in-process (docs/security.md): a slot descriptor reached through the
module's globals or a method-wrapper's ``__self__`` and called by hand, ``gc``, ``ctypes``. Only a process boundary
stops those; a ``trust: community`` plugin never runs in-process.

Neither type is a ``dict``: ``json.dumps`` needs ``thaw(value)`` first (or ``default=``), and ``isinstance(value,
Mapping)`` is the test that holds for both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, NoReturn, TypeVar

__all__ = ["FrozenDict", "Immutable", "detached", "freeze", "immutable", "thaw"]

T = TypeVar("T")


class _Sealed:
    """What every read-only value shares: no ``__class__`` assignment, copies that are the value itself."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # a data descriptor without a setter: object.__setattr__(v, "__class__", X) raises
        return type(self)

    def __copy__(self: T) -> T:
        return self

    def __deepcopy__(self: T, memo: dict[int, object]) -> T:
        return self


class FrozenDict(_Sealed, Mapping[str, Any]):
    """An immutable mapping with ``str`` keys and frozen values. ``FrozenDict(m)`` and :func:`freeze` deep-freeze
    their input; :func:`thaw` (or ``dict(...)`` for one level) gives a mutable copy."""

    __slots__ = ("_items",)

    def __new__(cls, source: Mapping[Any, Any] | None = None, /) -> FrozenDict:
        items = {} if source is None else {_key(k): freeze(v) for k, v in dict(source).items()}
        return _wrap(items, cls)

    def __getitem__(self, key: str) -> Any:
        return _items(self)[key]

    def get(self, key: str, default: Any = None) -> Any:
        return _items(self).get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in _items(self)

    def __iter__(self) -> Iterator[str]:
        return iter(_items(self))

    def __len__(self) -> int:
        return len(_items(self))

    # dict's own views: their ``.mapping`` is a read-only mappingproxy, never the dict itself
    def keys(self) -> KeysView[str]:
        return _items(self).keys()

    def items(self) -> ItemsView[str, Any]:
        return _items(self).items()

    def values(self) -> ValuesView[Any]:
        return _items(self).values()

    def __eq__(self, other: object) -> bool:
        if type(other) is FrozenDict:
            return _items(self) == _items(other)
        if isinstance(other, Mapping):
            return _items(self) == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(_items(self).items()))

    def __or__(self, other: Mapping[str, Any]) -> FrozenDict:
        if not isinstance(other, Mapping):
            return NotImplemented
        return FrozenDict({**_items(self), **other})

    def __ror__(self, other: Mapping[str, Any]) -> FrozenDict:
        if not isinstance(other, Mapping):
            return NotImplemented
        return FrozenDict({**other, **_items(self)})

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        # dict's mutators by name, so that code written for a dict fails with a message that says what to do
        raise TypeError("this mapping is a read-only snapshot; write through a capability method instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __repr__(self) -> str:
        return f"FrozenDict({_items(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (FrozenDict, (dict(_items(self)),))


# The slot's descriptor, kept here and taken off the class: the methods above read the items through it, nothing
# else can set them (object.__setattr__(fd, "_items", ...) finds no descriptor and FrozenDict has no __dict__).
_ITEMS = FrozenDict.__dict__["_items"]
del FrozenDict._items  # type: ignore[attr-defined]
_items: Callable[[FrozenDict], dict[str, Any]] = _ITEMS.__get__
_set_items: Callable[[FrozenDict, dict[str, Any]], None] = _ITEMS.__set__


def _wrap(items: dict[str, Any], cls: type[FrozenDict] = FrozenDict) -> FrozenDict:
    """A FrozenDict around ``items``, which must already be frozen and must not be kept by the caller."""
    fd = object.__new__(cls)
    _set_items(fd, items)
    return fd


def _key(key: Any) -> str:
    # str.__str__ gives a plain str copy of a str subclass: a key is never an object with methods of its own
    return key if type(key) is str else str.__str__(key) if isinstance(key, str) else str(key)


_EMPTY = _wrap({})


def freeze(value: Any) -> Any:
    """Deep-copy JSON-like data into read-only form: mappings become FrozenDict, lists and tuples become tuples.
    A FrozenDict is returned as it is (nothing can change it); anything else that is not a container is kept."""
    kind = type(value)
    if kind is FrozenDict or kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # the common cases first, by exact type: the abstract-class checks below are slow
    if kind is dict:
        return _wrap({_key(k): freeze(v) for k, v in value.items()}) if value else _EMPTY
    if kind is tuple or kind is list:
        return tuple([freeze(v) for v in value])
    if isinstance(value, Mapping):
        return _wrap({_key(k): freeze(v) for k, v in value.items()}) if value else _EMPTY
    if isinstance(value, list | tuple):
        return tuple([freeze(v) for v in value])
    return value


def thaw(value: Any) -> Any:
    """Deep-copy frozen data back into plain, mutable ``dict`` / ``list`` values."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is FrozenDict:
        return {k: thaw(v) for k, v in _items(value).items()}
    if kind is tuple or kind is list:
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def detached(value: T) -> T:
    """A deep copy of a frozen value that shares no object with it (records, FrozenDicts and tuples rebuilt).

    For what the host keeps for itself while handing the same data to plugins (an API response and the event
    published about it): not even a slot set by hand in the plugins' copy reaches the host's."""
    kind = type(value)
    if kind is FrozenDict:
        return _wrap({k: detached(v) for k, v in _items(value).items()})  # type: ignore[arg-type, return-value]
    if kind is tuple:
        return tuple(detached(v) for v in value)  # type: ignore[attr-defined, return-value]
    if isinstance(value, Immutable):
        return kind(**{f.name: detached(getattr(value, f.name)) for f in dataclasses.fields(value)})  # type: ignore[arg-type]
    return value


def _freeze_field(value: Any) -> Any:
    return _EMPTY if value is None else freeze(value)


def _rebuild(cls: Callable[..., T], values: dict[str, Any]) -> T:
    return cls(**values)


def immutable(*, frozen: tuple[str, ...] = ()) -> Callable[[type[T]], type[T]]:
    """Seal a ``@dataclass(frozen=True, slots=True)`` class (apply above the ``@dataclass``).

    Its fields become read-only properties over slots nobody else can set, and its ``__init__`` is rebuilt to set
    them once (a second ``__init__`` call raises). The fields named in ``frozen`` go through :func:`freeze` on the
    way in (None becomes an empty FrozenDict). ``dataclasses.replace``, ``fields``, ``asdict``, equality, hashing,
    ``repr`` and pickling keep working; ``copy.copy`` and ``copy.deepcopy`` return the value itself.
    """

    def seal(cls: type[T]) -> type[T]:
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen or "__slots__" not in cls.__dict__ or not issubclass(cls, _Sealed):
            raise TypeError(f"{cls.__name__}: @immutable takes a frozen, slotted dataclass deriving from Immutable")
        if "__post_init__" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: @immutable builds __init__ itself; name converted fields in frozen=")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        unknown = set(frozen) - {f.name for f in fields}
        if unknown:
            raise TypeError(f"{cls.__name__}: frozen= names no field {sorted(unknown)}")
        slots = {f.name: cls.__dict__[f.name] for f in fields}
        namespace: dict[str, Any] = {"_freeze": _freeze_field, "_FACTORY": _FACTORY, "_TypeError": TypeError}
        signature, body = ["self"], []
        keyword_only = False
        for f in fields:
            if not f.init:
                raise TypeError(f"{cls.__name__}.{f.name}: @immutable fields are all set by __init__")
            if f.kw_only and not keyword_only:
                signature.append("*")
                keyword_only = True
            namespace[f"_set_{f.name}"] = slots[f.name].__set__
            if f.default is not dataclasses.MISSING:
                namespace[f"_default_{f.name}"] = f.default
                signature.append(f"{f.name}=_default_{f.name}")
            elif f.default_factory is not dataclasses.MISSING:
                namespace[f"_factory_{f.name}"] = f.default_factory
                signature.append(f"{f.name}=_FACTORY")
                body.append(f"    if {f.name} is _FACTORY: {f.name} = _factory_{f.name}()")
            else:
                signature.append(f.name)
            value = f"_freeze({f.name})" if f.name in frozen else f.name
            body.append(f"    _set_{f.name}(self, {value})")
        if fields:
            namespace["_get_first"] = slots[fields[0].name].__get__
            body[:0] = [
                "    try:",
                "        _get_first(self)",
                "    except AttributeError:",
                "        pass",
                "    else:",
                f"        raise _TypeError('{cls.__name__} is immutable: build a new one (dataclasses.replace)')",
            ]
        source = f"def __init__({', '.join(signature)}):\n" + "\n".join(body or ["    pass"]) + "\n"
        exec(source, namespace)  # the source is built above from the class's own field names
        init = namespace["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init.__doc__ = cls.__init__.__doc__
        type.__setattr__(cls, "__init__", init)
        for name, slot in slots.items():
            field_property = property(slot.__get__, doc=f"{cls.__name__}.{name} (read-only)")
            field_property.__set_name__(cls, name)  # type: ignore[attr-defined]  # a refused write names the field
            type.__setattr__(cls, name, field_property)
        for name in ("__getstate__", "__setstate__"):  # dataclass's: its __setstate__ sets fields on a live value
            if name in cls.__dict__:
                type.__delattr__(cls, name)
        names = tuple(slots)

        def __reduce__(self: object) -> tuple[object, ...]:
            return (_rebuild, (type(self), {name: getattr(self, name) for name in names}))

        __reduce__.__qualname__ = f"{cls.__qualname__}.__reduce__"
        type.__setattr__(cls, "__reduce__", __reduce__)
        return cls

    return seal


class Immutable(_Sealed):
    """Base of every :func:`immutable` class."""

    __slots__ = ()


_FACTORY = object()  # "no argument given" for a field with a default factory

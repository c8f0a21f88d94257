"""Read-only JSON values handed to plugins.

Snapshots carry world / NPC / session JSON as :class:`FrozenDict` and tuples: still ``dict`` instances (so
``json.dumps``, pydantic and FastAPI serialise them as they are) whose mutating methods raise ``TypeError``. They
are copies made for the reader: mutating one by force changes nothing in the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["FrozenDict", "freeze", "thaw"]


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses mutation. Build with :func:`freeze`; copy out with :func:`thaw`."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("this mapping is a read-only snapshot; write through a capability method instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> tuple[object, ...]:
        return (_frozen_from_dict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FrozenDict:
        return self


def _frozen_from_dict(d: dict[str, Any]) -> FrozenDict:
    fd = FrozenDict()
    dict.update(fd, d)
    return fd


def freeze(value: Any) -> Any:
    """Deep-copy JSON-like data into read-only form: mappings become FrozenDict, lists become tuples."""
    kind = type(value)
    if kind is FrozenDict or kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # the common cases first, without the (slow) abstract-class checks below
    if kind is dict:
        fd = FrozenDict()
        dict.update(fd, {str(k): freeze(v) for k, v in value.items()})
        return fd
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        fd = FrozenDict()
        dict.update(fd, {str(k): freeze(v) for k, v in value.items()})
        return fd
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Deep-copy frozen data back into plain, mutable ``dict`` / ``list`` values."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value

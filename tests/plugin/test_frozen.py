"""Read-only values are read-only against the base classes' own methods too (red-team 34).

A snapshot, view or event is one object that several plugins, the core and an API response read: whatever one
plugin can change through ``dict.__setitem__``, ``object.__setattr__``, ``__init__``, ``__setstate__`` or a
``__class__`` swap, the next reader would see. Each attempt below is refused and the value reads as before.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from pixsim_hooks.plugin import (
    FrozenDict,
    GenerationRequest,
    GenerationSnapshot,
    InteractionExecuted,
    LocationChanged,
    LocationSnapshot,
    NpcSnapshot,
    NpcSpawned,
    NpcView,
    SessionChange,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    WorldSnapshot,
    WorldTimeAdvanced,
    checked_json,
    freeze,
    thaw,
)

FLAGS = {"plugin:a:x": 1, "nested": {"list": [1, 2], "deep": {"k": "v"}}}


def frozen_flags() -> FrozenDict:
    value: FrozenDict = freeze(FLAGS)
    return value


# -- FrozenDict ------------------------------------------------------------------------------------------------------
def test_a_frozen_mapping_reads_like_the_mapping_it_was_made_from() -> None:
    fd = frozen_flags()
    assert fd == {"plugin:a:x": 1, "nested": {"list": (1, 2), "deep": {"k": "v"}}}
    assert list(fd) == ["plugin:a:x", "nested"] and len(fd) == 2
    assert fd["plugin:a:x"] == 1 and fd.get("missing") is None and fd.get("missing", 5) == 5
    assert "nested" in fd and "other" not in fd
    assert list(fd.keys()) == ["plugin:a:x", "nested"]
    assert dict(fd.items())["plugin:a:x"] == 1 and 1 in list(fd.values())
    assert isinstance(fd, Mapping) and not isinstance(fd, dict)
    assert type(fd["nested"]) is FrozenDict and fd["nested"]["list"] == (1, 2)


def test_it_is_a_copy_the_source_can_change_without_it() -> None:
    source: dict[str, Any] = {"a": {"b": [1]}}
    fd = FrozenDict(source)
    source["a"]["b"].append(2)
    source["c"] = 3
    assert thaw(fd) == {"a": {"b": [1]}}


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(lambda fd: dict.__setitem__(fd, "plugin:a:x", 2), id="dict.__setitem__"),
        pytest.param(lambda fd: dict.update(fd, {"plugin:a:x": 2}), id="dict.update"),
        pytest.param(lambda fd: dict.clear(fd), id="dict.clear"),
        pytest.param(lambda fd: dict.pop(fd, "plugin:a:x"), id="dict.pop"),
        pytest.param(lambda fd: fd.__setitem__("plugin:a:x", 2), id="__setitem__"),
        pytest.param(lambda fd: fd.update({"plugin:a:x": 2}), id="update"),
        pytest.param(lambda fd: fd.setdefault("new", 1), id="setdefault"),
        pytest.param(lambda fd: fd.popitem(), id="popitem"),
        pytest.param(lambda fd: fd.__delitem__("plugin:a:x"), id="__delitem__"),
        pytest.param(lambda fd: fd.__ior__({"plugin:a:x": 2}), id="|="),
        pytest.param(lambda fd: object.__setattr__(fd, "_items", {"plugin:a:x": 2}), id="object.__setattr__ slot"),
        pytest.param(lambda fd: object.__setattr__(fd, "x", 1), id="object.__setattr__ new"),
        pytest.param(lambda fd: vars(fd), id="vars"),
        pytest.param(lambda fd: fd.__setstate__({"plugin:a:x": 2}), id="__setstate__"),
    ],
)
def test_a_frozen_mapping_refuses_every_way_to_change_it(attempt: Callable[[Any], object]) -> None:
    fd = frozen_flags()
    with pytest.raises((TypeError, AttributeError)):
        attempt(fd)
    assert thaw(fd) == {"plugin:a:x": 1, "nested": {"list": [1, 2], "deep": {"k": "v"}}}


def test_its_class_cannot_be_swapped_for_a_look_alike_that_reaches_the_items() -> None:
    class LookAlike(Mapping[str, Any]):
        __slots__ = ("_items",)

    fd = frozen_flags()
    with pytest.raises(AttributeError):
        object.__setattr__(fd, "__class__", LookAlike)
    assert type(fd) is FrozenDict


def test_calling_init_or_new_again_does_not_touch_an_existing_one() -> None:
    fd = frozen_flags()
    fd.__init__({"plugin:a:x": 2})  # type: ignore[misc]
    FrozenDict.__new__(FrozenDict, {"plugin:a:x": 2})
    assert fd["plugin:a:x"] == 1


def test_the_key_views_lead_only_to_a_read_only_mapping() -> None:
    fd = frozen_flags()
    behind = fd.keys().mapping
    with pytest.raises(TypeError):
        behind["plugin:a:x"] = 2  # type: ignore[index]
    assert fd["plugin:a:x"] == 1


def test_keys_are_plain_strings_even_when_given_a_str_subclass() -> None:
    class Liar(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    fd = FrozenDict({Liar("k"): 1})
    assert [type(key) for key in fd] == [str]


def test_copies_are_the_value_itself_and_pickling_gives_an_equal_frozen_mapping() -> None:
    fd = frozen_flags()
    assert copy.copy(fd) is fd and copy.deepcopy(fd) is fd
    again = pickle.loads(pickle.dumps(fd))
    assert type(again) is FrozenDict and again == fd and hash(again) == hash(fd)


def test_union_builds_a_new_frozen_mapping() -> None:
    fd = frozen_flags()
    merged = fd | {"plugin:a:x": 2}
    assert type(merged) is FrozenDict and merged["plugin:a:x"] == 2 and fd["plugin:a:x"] == 1


def test_it_crosses_into_json_through_thaw_and_is_accepted_back_as_a_value() -> None:
    fd = frozen_flags()
    assert json.loads(json.dumps(thaw(fd))) == {"plugin:a:x": 1, "nested": {"list": [1, 2], "deep": {"k": "v"}}}
    assert checked_json(fd) == {"plugin:a:x": 1, "nested": {"list": [1, 2], "deep": {"k": "v"}}}


def test_checked_json_still_refuses_a_mapping_that_is_not_json() -> None:
    class Custom(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return 1

        def __iter__(self) -> Any:
            return iter(["a"])

        def __len__(self) -> int:
            return 1

    with pytest.raises(ValueError, match="not plain finite JSON"):
        checked_json(Custom())


# -- immutable records -------------------------------------------------------------------------------------------
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SESSION = SessionSnapshot(id=1, world_id=2, world_time=3.0, version=4, flags=FLAGS, relationships={"npc:1": {}})
NPC = NpcSnapshot(id=5, world_id=2, name="Ana", meta={"role": "baker"})
RECORDS: list[Any] = [
    WorldSnapshot(id=2, name="Harbor", meta={"behavior": {}}),
    LocationSnapshot(id=3, world_id=2, name="Dock", meta={}),
    NPC,
    SESSION,
    GenerationSnapshot(1, 2, "a cat", "queued", "plugin:a", NOW, {"size": [1, 2]}),
    GenerationRequest("a cat", "plugin:a", 2, {"size": [1, 2]}),
    SessionChange(set_flags={"plugin:a:x": 1}, delete_flags=("y",), relationship_deltas={"npc:1": {"trust": 1.0}}),
    SessionCreated(2, SESSION),
    SessionUpdated(2, SESSION, ("flags",)),
    InteractionExecuted(2, 1, 5, "talk", {"text": ["hi"]}),
    NpcSpawned(2, NPC),
    LocationChanged(2, 1, 3, None, 5),
    WorldTimeAdvanced(2, 1, 3.0, 4.0),
    NpcView(2, NPC, SESSION, {"behavior": {}}, {"energy": 50}, {"likes": ["x"]}, 3.0, "morning"),
]


def ident(record: Any) -> str:
    return type(record).__name__


@pytest.mark.parametrize("record", RECORDS, ids=ident)
def test_no_field_of_a_record_can_be_set_even_through_object_setattr(record: Any) -> None:
    before = repr(record)
    for f in dataclasses.fields(record):
        with pytest.raises(AttributeError):
            object.__setattr__(record, f.name, None)
        with pytest.raises(AttributeError):
            object.__delattr__(record, f.name)
        with pytest.raises(AttributeError):
            setattr(record, f.name, None)
    assert repr(record) == before


@pytest.mark.parametrize("record", RECORDS, ids=ident)
def test_a_record_cannot_be_initialised_again_or_given_new_state(record: Any) -> None:
    before = repr(record)
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    first = dataclasses.fields(record)[0].name
    values[first] = 999 if isinstance(values[first], int) else "changed"
    with pytest.raises(TypeError, match="immutable"):
        record.__init__(**values)
    with pytest.raises(AttributeError):
        record.__setstate__((None, values))
    with pytest.raises(AttributeError):
        object.__setattr__(record, "__class__", type("LookAlike", (), {"__slots__": tuple(values)}))
    assert repr(record) == before and type(record).__name__ == ident(record)


@pytest.mark.parametrize("record", RECORDS, ids=ident)
def test_a_record_keeps_what_dataclasses_give_replace_equality_pickle_and_copies(record: Any) -> None:
    first = dataclasses.fields(record)[0].name
    value = getattr(record, first)
    other = dataclasses.replace(record, **{first: 999 if isinstance(value, int) else "changed"})
    assert other is not record and other != record and getattr(record, first) == value
    assert dataclasses.replace(record) == record and hash(dataclasses.replace(record)) == hash(record)
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.copy(record) is record and copy.deepcopy(record) is record


@pytest.mark.parametrize("record", RECORDS, ids=ident)
def test_the_json_inside_a_record_is_frozen_all_the_way_down(record: Any) -> None:
    def walk(value: Any) -> None:
        assert not isinstance(value, dict | list | set), f"{ident(record)} holds a mutable {type(value).__name__}"
        if isinstance(value, Mapping):
            assert type(value) is FrozenDict or ident(record) == "StagedWrites"
            for item in value.values():
                walk(item)
        elif isinstance(value, tuple):
            for item in value:
                walk(item)
        elif dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))

    walk(record)


def test_a_json_field_given_as_none_reads_as_an_empty_mapping() -> None:
    assert WorldSnapshot(id=1, name="W", meta=None).meta == {}  # type: ignore[arg-type]


# -- what stays open in-process (docs/security.md): a slot's descriptor called by hand ---------------------------
def test_limit_the_frozen_mappings_own_descriptor_reached_through_its_module_still_sets_its_items() -> None:
    """The descriptor is off the class, but the module keeps it to read the items: importing the private module and
    calling it by hand is the module-globals class of reach, which only a process boundary stops."""
    from pixsim_hooks.plugin import _frozen

    fd = frozen_flags()
    _frozen._ITEMS.__set__(fd, {"forced": True})
    assert dict(fd) == {"forced": True}


def test_limit_a_records_slot_descriptor_behind_its_property_still_sets_the_field() -> None:
    """A field's read-only property reads through the slot's descriptor; that descriptor, taken from the property's
    getter (a method-wrapper's ``__self__``) and called by hand, still writes."""
    record = NpcSnapshot(id=5, world_id=2, name="Ana")
    slot = type(record).__dict__["name"].fget.__self__
    slot.__set__(record, "forced")
    assert record.name == "forced"

"""The package's public API and its two errors: messages that name plugin, capability and member; pickling intact."""

from __future__ import annotations

import pickle

import pytest

import proxies
from proxies import CapabilityError, PermissionDenied


def test_all_is_sorted_and_unique() -> None:
    assert proxies.__all__ == sorted(set(proxies.__all__))


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(proxies) if not n.startswith("_") and n != "annotations"}
    assert set(proxies.__all__) == public


def test_a_denial_names_plugin_permission_capability_and_member() -> None:
    exc = PermissionDenied("weather", "world:read", "world", "get_world")
    assert str(exc) == "plugin 'weather' lacks permission 'world:read' for world.get_world"
    assert (exc.plugin_id, exc.permission, exc.capability, exc.member) == (
        "weather",
        "world:read",
        "world",
        "get_world",
    )


def test_a_denial_no_permission_could_grant_says_so() -> None:
    exc = PermissionDenied("weather", None, "world", "__wrapped__")
    assert str(exc) == "plugin 'weather' may not access world.__wrapped__ (no permission grants it)"


def test_a_denial_without_a_member_names_the_capability() -> None:
    assert (
        str(PermissionDenied("weather", "world:read", "world"))
        == "plugin 'weather' lacks permission 'world:read' for world"
    )


@pytest.mark.parametrize(
    "exc",
    [
        PermissionDenied("weather", "world:read", "world", "get_world"),
        PermissionDenied("weather", None, "ctx", None),
    ],
    ids=["all-fields", "no-permission-no-member"],
)
def test_a_denial_pickles_with_every_field_intact(exc: PermissionDenied) -> None:
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is PermissionDenied
    assert (back.plugin_id, back.permission, back.capability, back.member) == (
        exc.plugin_id,
        exc.permission,
        exc.capability,
        exc.member,
    )
    assert str(back) == str(exc)


class WorldNotEnabled(PermissionDenied):
    """A host refinement of PermissionDenied, with a field of its own."""

    world_id: int


def test_a_denial_subclass_pickles_as_itself_with_its_own_fields() -> None:
    exc = WorldNotEnabled("weather", None, "world", "3")
    exc.world_id = 3
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is WorldNotEnabled
    assert (back.plugin_id, back.member, back.world_id) == ("weather", "3", 3)


@pytest.mark.parametrize("field", ["plugin_id", "permission", "capability", "member", "args"])
def test_a_denials_fields_cannot_be_rewritten_once_recorded(field: str) -> None:
    """The host keeps the instance the plugin catches; the plugin must not be able to blame someone else."""
    exc = PermissionDenied("weather", "world:read", "world", "get_world")
    with pytest.raises(AttributeError, match="read-only"):
        setattr(exc, field, ("victim",) if field == "args" else "victim")
    with pytest.raises(AttributeError, match="read-only"):
        delattr(exc, field)
    assert exc.plugin_id == "weather" and "'weather'" in str(exc)


def test_a_denial_still_takes_notes_and_tracebacks() -> None:
    exc = PermissionDenied("weather", None, "world", "x")
    exc.add_note("seen by the dispatcher")
    with pytest.raises(PermissionDenied) as raised:
        raise exc
    assert raised.value.__traceback__ is not None and raised.value.__notes__ == ["seen by the dispatcher"]


def test_a_capability_error_names_the_call_and_the_original_type_only() -> None:
    exc = CapabilityError("world", "get_world", "OperationalError", "weather")
    assert str(exc) == "capability call world.get_world failed (OperationalError)"
    with pytest.raises(AttributeError, match="read-only"):
        exc.plugin_id = "victim"
    back = pickle.loads(pickle.dumps(exc))
    assert (back.capability, back.member, back.error_type, back.plugin_id) == (
        "world",
        "get_world",
        "OperationalError",
        "weather",
    )

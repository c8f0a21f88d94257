"""The checks of what an out-of-process plugin answers (``pixsim_hooks.runtime._results``; red-team 23, 37): each
contract written out here, value by value, with the limits as the specification states them (section 8 of
``docs/plugin-protocol.md``), not read from the module."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pixsim_hooks.plugin import RemotePluginError
from pixsim_hooks.runtime import ISOLATED_HOOKS
from pixsim_hooks.runtime._results import (
    HOOKS,
    check_condition,
    check_effect,
    check_hook,
    check_route_answer,
    check_route_shapes,
    check_scoring_factor,
    extension_check,
)

PID, WHAT = "liar", "plugin:liar:says"


def refused(check: Any, value: Any) -> str:
    """``check`` refuses ``value`` as the plugin's failure (RemotePluginError naming the plugin); its message."""
    with pytest.raises(RemotePluginError) as caught:
        check(PID, WHAT, value)
    assert caught.value.plugin_id == PID and caught.value.error_type == "InvalidResult"
    assert "'liar'" in str(caught.value) and "counted as its fallback" in str(caught.value)
    return str(caught.value)


# -- conditions: exactly a boolean -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, False])
def test_a_condition_answer_is_a_boolean(value: bool) -> None:
    assert check_condition(PID, WHAT, value) is value


@pytest.mark.parametrize("value", [1, 0, "true", None, {"ok": True}, [True], 1.0])
def test_a_condition_answer_that_is_not_exactly_a_boolean_is_refused(value: Any) -> None:
    assert "not true or false" in refused(check_condition, value)


# -- scoring factors: finite numbers from 0 to 1e6, as floats ---------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (1, 1.0), (2.5, 2.5), (1_000_000, 1e6), (1e6, 1e6)])
def test_a_scoring_factor_in_range_is_a_float(value: Any, expected: float) -> None:
    factor = check_scoring_factor(PID, WHAT, value)
    assert type(factor) is float and factor == expected


@pytest.mark.parametrize(
    "value",
    [
        10**400,  # valid JSON; math.isfinite(10**400) raises OverflowError
        -(10**400),
        1_000_001,
        1e6 + 1,
        1e308,
        -2.0,
        -1,
        True,  # a bool is an int to Python, never a number to the protocol
        False,
        "2.0",
        None,
        [1.5],
        {"factor": 1.5},
        math.nan,  # the parser refuses these; the check refuses them all the same
        math.inf,
    ],
)
def test_a_scoring_factor_out_of_range_or_not_a_number_is_refused(value: Any) -> None:
    assert "not a finite number from 0 to 1e+06" in refused(check_scoring_factor, value)


def test_a_huge_integer_is_described_by_its_size_not_quoted() -> None:
    message = refused(check_scoring_factor, 10**400)
    assert "an integer of 401 digits" in message and "0" * 30 not in message


# -- effects: the staged-writes shape, whole --------------------------------------------------------------------------
def test_an_effects_staged_writes_come_back_with_float_deltas() -> None:
    staged = {"flags": {"seen": 2, "plugin:liar:notes": {"a": [1, "x", None, True, 2.5]}}, "relationships": {}}
    staged["relationships"] = {"npc:5": {"affinity": 1, "trust": -100}, "npc:12": {"tension": 99.5}}
    flags, relationships = check_effect(PID, WHAT, staged)
    assert flags == {"seen": 2, "plugin:liar:notes": {"a": [1, "x", None, True, 2.5]}}
    assert relationships == {"npc:5": {"affinity": 1.0, "trust": -100.0}, "npc:12": {"tension": 99.5}}
    assert {type(d) for metrics in relationships.values() for d in metrics.values()} == {float}
    assert check_effect(PID, WHAT, {}) == ({}, {})  # either key may be omitted


@pytest.mark.parametrize(
    "staged",
    [
        None,
        [],
        "flags",
        {"flags": {}, "notes": "an extra key"},
        {"flags": []},
        {"relationships": [["npc:5", "trust", 1]]},
        {"flags": {"": 1}},  # an empty key
        {"flags": {"k" * 201: 1}},  # a key over 200 characters
        {"flags": {"x": 2**53}},  # beyond what a double holds exactly
        {"flags": {"x": {"deep": [-(2**60)]}}},
        {"flags": {"x": 10**400}},
        {"relationships": {"npc:5": {"trust": 10**400}}},
        {"relationships": {"npc:5": {"trust": 100.5}}},
        {"relationships": {"npc:5": {"trust": -101}}},
        {"relationships": {"npc:5": {"trust": True}}},
        {"relationships": {"npc:5": {"trust": "1"}}},
        {"relationships": {"npc:5": {"love": 1}}},  # not a metric
        {"relationships": {"npc:5": 1}},
        {"relationships": {"npc:05": {"trust": 1}}},  # a look-alike of npc:5
        {"relationships": {"npc:\u0665": {"trust": 1}}},  # ARABIC-INDIC DIGIT FIVE: str.isdigit() says yes
        {"relationships": {"npc:5\n": {"trust": 1}}},
        {"relationships": {"NPC:5": {"trust": 1}}},
        {"relationships": {"npc:": {"trust": 1}}},
        {"relationships": {"npc:1234567890123456789": {"trust": 1}}},  # over 18 digits: no database id
    ],
)
def test_staged_writes_of_the_wrong_shape_or_out_of_range_are_refused_whole(staged: Any) -> None:
    refused(check_effect, staged)


def test_the_largest_safe_integer_is_a_valid_flag_value() -> None:
    assert check_effect(PID, WHAT, {"flags": {"x": 2**53 - 1, "y": -(2**53 - 1)}})[0] == {
        "x": 2**53 - 1,
        "y": -(2**53 - 1),
    }


def test_each_registration_member_has_its_check() -> None:
    assert extension_check("register_condition_evaluator") is check_condition
    assert extension_check("register_scoring_factor") is check_scoring_factor
    assert extension_check("register_effect_handler") is check_effect


# -- hooks ---------------------------------------------------------------------------------------------------------
def test_suggestions_are_null_or_at_most_100_ids_of_at_most_200_characters() -> None:
    assert check_hook("suggest_activities", PID, None) is None
    assert check_hook("suggest_activities", PID, []) == []
    ids = [f"activity:{i}" for i in range(100)]
    assert check_hook("suggest_activities", PID, ids) == ids
    assert check_hook("suggest_activities", PID, ["a" * 200]) == ["a" * 200]


@pytest.mark.parametrize(
    "value",
    [
        [f"activity:{i}" for i in range(101)],
        [f"activity:{i}" for i in range(10_000)],
        ["a" * 201],
        [""],
        ["activity:ok", 3],
        [None],
        "activity:picnic",
        {"activity:picnic": 1},
        True,
    ],
)
def test_suggestions_too_many_too_long_or_not_strings_are_refused(value: Any) -> None:
    with pytest.raises(RemotePluginError, match="suggest_activities"):
        check_hook("suggest_activities", PID, value)


def test_simulation_defaults_are_null_or_an_object() -> None:
    assert check_hook("provide_simulation_defaults", PID, None) is None
    assert check_hook("provide_simulation_defaults", PID, {"defaultTier": "x"}) == {"defaultTier": "x"}
    for value in ([{"defaultTier": "x"}], "x", 1, True):
        with pytest.raises(RemotePluginError, match="provide_simulation_defaults"):
            check_hook("provide_simulation_defaults", PID, value)


IGNORED = [
    "on_load",
    "on_enable",
    "on_disable",
    "register_behavior",
    "on_session_created",
    "on_session_updated",
    "on_interaction_executed",
    "on_npc_spawned",
    "on_location_changed",
    "on_world_time_advanced",
]


@pytest.mark.parametrize("hook", IGNORED)
@pytest.mark.parametrize("value", [None, {"session": 101, "world": "denied"}, 10**400, "x"])
def test_what_lifecycle_and_event_hooks_answer_is_ignored(hook: str, value: Any) -> None:
    """Their hookspecs say "Return: ignored": whatever a plugin's function returned reaches nothing in the host."""
    assert check_hook(hook, PID, value) is None


def test_every_hook_a_plugin_may_run_out_of_process_has_a_check() -> None:
    assert set(HOOKS) == {*IGNORED, "suggest_activities", "provide_simulation_defaults"} == set(ISOLATED_HOOKS)


def test_a_hook_without_a_known_contract_believes_nothing_but_null() -> None:
    assert check_hook("on_something_new", PID, None) is None
    with pytest.raises(RemotePluginError, match="on_something_new"):
        check_hook("on_something_new", PID, {"anything": 1})


# -- a sandboxed child's routes: their shapes, and each forwarded request's answer -----------------------------------
def route(path: Any = "/notes/{note_id}", methods: Any = ("GET",), name: Any = "note") -> dict[str, Any]:
    return {"path": path, "methods": list(methods) if isinstance(methods, tuple) else methods, "name": name}


def test_route_shapes_are_kept_as_the_child_described_them() -> None:
    shapes = check_route_shapes(PID, "provide_router", [route(), route("/", ("GET", "POST"), "root")])
    assert [(s.path, s.methods, s.name) for s in shapes] == [
        ("/notes/{note_id}", ("GET",), "note"),
        ("/", ("GET", "POST"), "root"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"path": "/"},
        [route()] * 201,  # more routes than the host builds forwarding routes for (200)
        [{"path": "/", "methods": ["GET"]}],  # a key missing
        [{**route(), "handler": "x"}],  # a key more
        [route("notes")],  # not starting with /
        [route("")],
        [route("/" + "a" * 1000)],  # 1001 characters
        [route("/tide\r\nX-Injected: 1")],  # control characters
        [route("/caf\u00e9")],  # not ASCII
        [route(7)],
        [route(methods=[])],
        [route(methods=["get"])],  # method names are upper case
        [route(methods=["GET"] * 11)],
        [route(methods=["G E T"])],
        [route(methods="GET")],
        [route(name=None)],
        [route(name="n" * 201)],
    ],
)
def test_route_shapes_out_of_contract_are_refused(value: Any) -> None:
    refused(check_route_shapes, value)


def response(**fields: Any) -> dict[str, Any]:
    return {"kind": "response", "status": 200, "headers": [["content-type", "text/plain"]], "body": "aGk=", **fields}


def test_a_response_is_decoded_with_its_status_headers_and_body() -> None:
    answer = check_route_answer(PID, WHAT, response(status=201, headers=[["x-a", "1"], ["set-cookie", "a=b"]]))
    assert (answer.kind, answer.status, answer.headers, answer.body) == (
        "response",
        201,
        (("x-a", "1"), ("set-cookie", "a=b")),
        b"hi",
    )


def test_an_http_error_and_a_validation_error_are_kept_for_the_host_to_render() -> None:
    error = check_route_answer(PID, WHAT, {"kind": "http_error", "status": 418, "detail": "tea", "headers": []})
    assert (error.kind, error.status, error.detail) == ("http_error", 418, "tea")
    errors = [{"loc": ["body", "text", 0], "msg": "too short", "type": "string_too_short"}]
    invalid = check_route_answer(PID, WHAT, {"kind": "validation_error", "errors": errors})
    assert (invalid.kind, invalid.status, list(invalid.errors)) == ("validation_error", 422, errors)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "HTTP/1.1 200 OK",
        {"kind": "redirect", "status": 302},
        response(status=99),
        response(status=600),
        response(status=True),
        response(status=200.0),
        response(headers=[["x-a", "1\r\nSet-Cookie: admin=1"]]),  # one header must stay one header
        response(headers=[["x-a", "1\n"]]),
        response(headers=[["x-a", "\x00"]]),
        response(headers=[["bad name", "1"]]),
        response(headers=[["x-a"]]),
        response(headers=[["x-a", 1]]),
        response(headers=[["x-\u2603", "1"]]),
        response(headers=[["x-a", "\u2603"]]),  # not latin-1: cannot be sent as a header
        response(headers=[["x-a", "1"]] * 101),
        response(body="not base64!"),
        response(body=None),
        {**response(), "extra": 1},
        {"kind": "http_error", "status": 200, "detail": "", "headers": []},  # an error is 4xx or 5xx
        {"kind": "http_error", "status": 404, "detail": "d" * 2001, "headers": []},
        {"kind": "http_error", "status": 404, "detail": None, "headers": []},
        {"kind": "validation_error", "errors": [{"loc": "body", "msg": "m", "type": "t"}]},
        {"kind": "validation_error", "errors": [{"loc": [10**400], "msg": "m", "type": "t"}]},
        {"kind": "validation_error", "errors": [{"loc": [], "msg": "m"}]},
        {"kind": "validation_error", "errors": [{"loc": [], "msg": "m", "type": "t"}] * 101},
    ],
)
def test_route_answers_out_of_contract_are_refused(value: Any) -> None:
    refused(check_route_answer, value)

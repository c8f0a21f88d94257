"""The hookspec contract: every spec takes ctx first, documents itself and carries a host contract."""

from __future__ import annotations

import inspect

import pytest

import hookspecs
from hookspecs import Fallback, HookContract

SPECS = [(m.__name__, name, getattr(m, name)) for m in hookspecs.SPEC_MODULES for name in m.__all__]


@pytest.mark.parametrize(("module", "name", "fn"), SPECS, ids=[s[1] for s in SPECS])
def test_every_hookspec_takes_ctx_first_is_documented_and_has_a_contract(module: str, name: str, fn: object) -> None:
    params = list(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    assert params[0] == "ctx"
    assert "world" not in params  # the host reserves `world=` for the world scope of a call
    assert len(inspect.getdoc(fn) or "") > 40
    contract = fn.pixsim_contract  # type: ignore[attr-defined]
    assert isinstance(contract, HookContract) and isinstance(contract.fallback, Fallback)
    assert hasattr(fn, "pixsim_spec")  # marked with the pixsim hookspec marker


def test_the_roadmap_hooks_exist() -> None:
    names = {s[1] for s in SPECS}
    assert {"on_load", "on_enable", "on_disable"} <= names
    assert {
        "on_session_created",
        "on_session_updated",
        "on_interaction_executed",
        "on_npc_spawned",
        "on_location_changed",
        "on_world_time_advanced",
    } <= names
    assert {"register_behavior", "suggest_activities", "provide_simulation_defaults"} <= names
    assert {"provide_router", "provide_admin_router", "provide_middleware"} <= names


def test_event_hooks_need_event_subscribe_and_fall_back_to_logging() -> None:
    for module, _name, fn in SPECS:
        if module == "hookspecs.events":
            assert fn.pixsim_contract == HookContract("event", "event:subscribe", Fallback.LOG)  # type: ignore[attr-defined]

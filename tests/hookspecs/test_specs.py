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


# hook -> (kind, the permission an implementation needs, the fallback when one fails), from the roadmap and
# docs/plugin-model.md ("Failure outcomes")
CONTRACTS = {
    "on_load": ("lifecycle", None, Fallback.QUARANTINE),
    "on_enable": ("lifecycle", None, Fallback.QUARANTINE),
    "on_disable": ("lifecycle", None, Fallback.QUARANTINE),
    "on_session_created": ("event", "event:subscribe", Fallback.LOG),
    "on_session_updated": ("event", "event:subscribe", Fallback.LOG),
    "on_interaction_executed": ("event", "event:subscribe", Fallback.LOG),
    "on_npc_spawned": ("event", "event:subscribe", Fallback.LOG),
    "on_location_changed": ("event", "event:subscribe", Fallback.LOG),
    "on_world_time_advanced": ("event", "event:subscribe", Fallback.LOG),
    "register_behavior": ("behavior", None, Fallback.QUARANTINE),
    "suggest_activities": ("behavior", "behavior:suggest_activities", Fallback.EMPTY),
    "provide_simulation_defaults": ("behavior", "behavior:configure_simulation", Fallback.EMPTY),
    "provide_router": ("route", "routes:register", Fallback.SKIP),
    "provide_admin_router": ("route", "admin:routes", Fallback.SKIP),
    "provide_middleware": ("route", "middleware:http", Fallback.SKIP),
}


def test_the_hooks_are_exactly_the_roadmap_ones_with_their_contracts() -> None:
    """A hook whose permission is dropped (anyone could implement it), whose fallback changes, or that appears or
    disappears without this table being updated, fails here."""
    contracts = {name: fn.pixsim_contract for _module, name, fn in SPECS}  # type: ignore[attr-defined]
    assert contracts == {name: HookContract(*contract) for name, contract in CONTRACTS.items()}

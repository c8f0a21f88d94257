"""A plugin package type-checks under ``mypy --strict`` against pixsim-hooks (its packages carry ``py.typed``): the
decorators keep their functions' signatures, the capability surfaces are checked, and conditions, effects and scoring
factors are checked against their calling conventions, so a wrong call or a wrong shape is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLUGIN = """
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from pixsim_hooks import EffectWriter, NpcView, PluginContext, PluginManifest, SessionCreated, hookimpl
from pixsim_hooks.fastapi import IdPath, get_plugin_context

manifest = PluginManifest(
    id="typed", name="Typed", version="0.1.0", permissions=("session:read", "event:subscribe", "routes:register")
)
Ctx = Annotated[PluginContext, Depends(get_plugin_context("typed"))]


@hookimpl
def on_session_created(ctx: PluginContext, event: SessionCreated) -> None:
    ctx.log.info("created", session_id=event.session.id)


def morning(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool:
    return view.time_of_day == "morning"


def stamp(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None:
    writer.set_flag("stamped", True)


def keen(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float:
    return 2.0 if activity.get("category") == "work" else 1.0


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_condition_evaluator("morning", morning)
    ctx.behavior.register_effect_handler("stamp", stamp)
    ctx.behavior.register_scoring_factor("keen", keen)


@hookimpl
def provide_router(ctx: PluginContext) -> APIRouter:
    router = APIRouter()

    async def read(session_id: IdPath, ctx: Ctx) -> dict[str, int]:
        session = await ctx.session.get_session(session_id)
        return {"version": session.version if session is not None else 0}

    router.add_api_route("/sessions/{session_id}", read, methods=["GET"])
    return router
"""

WRONG = """
from __future__ import annotations

from pixsim_hooks import PluginContext, hookimpl


@hookimpl
async def on_load(ctx: PluginContext) -> None:
    await ctx.world.get_world("1")


def sometimes(ctx: PluginContext, params: object, view: object) -> str:
    return "yes"


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    ctx.behavior.register_condition_evaluator("sometimes", sometimes)
"""


def mypy_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    package = tmp_path / "plugin_under_check"
    package.mkdir()
    (package / "__init__.py").write_text(source)
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(package)]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_a_plugin_package_passes_mypy_strict(tmp_path: Path) -> None:
    done = mypy_strict(tmp_path, PLUGIN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 1 source file" in done.stdout


def test_a_wrong_call_on_a_capability_is_a_type_error(tmp_path: Path) -> None:
    done = mypy_strict(tmp_path, WRONG)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Argument 1 to "get_world" of "WorldCapability" has incompatible type "str"; expected "int"' in done.stdout
    # a condition answering a str is not a ConditionEvaluator (which answers a bool)
    assert 'Argument 2 to "register_condition_evaluator" of "BehaviorExtensionAPI" has incompatible type' in done.stdout
    assert 'expected "ConditionEvaluator"' in done.stdout


def test_every_package_of_the_distribution_says_it_is_typed() -> None:
    root = Path(__file__).resolve().parent.parent
    assert all((root / package / "py.typed").is_file() for package in ("pixsim_hooks", "hookspecs", "proxies"))

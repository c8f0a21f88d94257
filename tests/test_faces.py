"""The public faces: ``pixsim_hooks`` for plugin authors (a short, eager list), one face per wing for the other
wings and for operators, each ``__all__`` sorted and complete; what importing them loads; no import cycle, at
run time or at the type level."""

from __future__ import annotations

import graphlib
import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import grimp
import pytest

import pixsim_hooks

AUTHOR_FACE = {
    # markers and manifest
    "hookimpl",
    "PluginManifest",
    "Permission",
    "Trust",
    "Isolation",
    "PluginKind",
    "ProcessRuntime",
    "RemoteRuntime",
    # the context and its capability types
    "PluginContext",
    "WorldCapability",
    "SessionCapability",
    "NpcCapability",
    "GenerationCapability",
    "LogCapability",
    "BehaviorExtensionAPI",
    # what behavior calls receive, and the shapes of the functions a plugin registers
    "NpcView",
    "EffectWriter",
    "ConditionEvaluator",
    "EffectHandler",
    "ScoringFactor",
    # snapshots
    "WorldSnapshot",
    "LocationSnapshot",
    "NpcSnapshot",
    "SessionSnapshot",
    "GenerationSnapshot",
    # events
    "SessionCreated",
    "SessionUpdated",
    "InteractionExecuted",
    "NpcSpawned",
    "LocationChanged",
    "WorldTimeAdvanced",
    # errors a plugin may catch
    "PixsimHooksError",
    "PermissionDenied",
    "CapabilityError",
    "NamespaceViolation",
    "PluginNotEnabled",
    "NotFoundError",
    "StaleWriteError",
    "ConfigError",
    # copying frozen values out
    "thaw",
}
FACES = (
    "pixsim_hooks",
    "pixsim_hooks.plugin",
    "pixsim_hooks.host",
    "pixsim_hooks.runtime",
    "pixsim_hooks.telemetry",
    "pixsim_hooks.fastapi",
    "pixsim_hooks.serve",
    "pixsim_hooks.backend",
    "pixsim_hooks.testing",
)


def test_the_author_face_lists_exactly_what_a_plugin_author_writes_against() -> None:
    assert set(pixsim_hooks.__all__) == AUTHOR_FACE
    assert pixsim_hooks.PluginContext is importlib.import_module("pixsim_hooks.plugin").PluginContext


@pytest.mark.parametrize("face", FACES)
def test_each_face_lists_its_names_once_in_sorted_order_and_every_one_resolves(face: str) -> None:
    module = importlib.import_module(face)
    assert module.__all__ == sorted(set(module.__all__))
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("face", FACES)
def test_each_face_exports_every_public_name_it_holds(face: str) -> None:
    """Nothing public that is not in ``__all__`` (a name imported only to be used there would be a leak)."""
    module = importlib.import_module(face)
    public = {n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    unlisted = public - set(module.__all__) - {"annotations", "TYPE_CHECKING", "Any"}
    assert unlisted == set()


def test_the_author_face_is_imported_eagerly_not_behind_a_loader() -> None:
    assert not hasattr(pixsim_hooks, "__getattr__")
    for name in pixsim_hooks.__all__:
        assert name in vars(pixsim_hooks), name


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


HEAVY = {"fastapi", "starlette", "httpx", "opentelemetry", "sqlalchemy", "uvicorn"}
HOST_SIDE = {"pixsim_hooks.host", "pixsim_hooks.fastapi", "pixsim_hooks.telemetry", "pixsim_hooks.backend"}


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules} | {".".join(m.split(".")[:2]) for m in modules if "." in m}


def test_importing_the_author_face_loads_no_host_web_stack_or_opentelemetry() -> None:
    loaded = roots(loaded_after("import pixsim_hooks; from pixsim_hooks import PluginManifest, hookimpl"))
    assert loaded & (HEAVY | HOST_SIDE | {"pixsim_hooks.runtime"}) == set()


def test_a_plugin_process_starts_without_the_host_or_the_web_stack() -> None:
    """What a sandboxed child imports before the plugin: a faster start and restart, and less to attack."""
    loaded = roots(loaded_after("import pixsim_hooks.runtime._child"))
    assert loaded & (HEAVY | HOST_SIDE) == set()


def test_there_is_no_import_cycle_even_counting_imports_made_for_type_checking_only() -> None:
    graph = grimp.build_graph("pixsim_hooks", "hookspecs", "proxies", exclude_type_checking_imports=False)
    core = {m for m in graph.modules if not m.startswith("pixsim_hooks.backend")}
    order = graphlib.TopologicalSorter({m: graph.find_modules_directly_imported_by(m) & core for m in core})
    try:
        order.prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_the_wings_say_what_lives_there_and_what_they_may_import() -> None:
    for face in FACES[1:]:
        doc = inspect.getdoc(importlib.import_module(face)) or ""
        assert "import" in doc.lower(), f"{face}: its docstring should say what it may import"


def test_a_backend_without_redis_never_loads_redis_py() -> None:
    """redis-py is the optional extra of a deployment: the app, its event delivery and its worker command import it
    only with PIXSIM_REDIS_URL (the event log's names are loaded from ``backend.events`` on first use)."""
    code = (
        "from pixsim_hooks.backend import create_app\n"
        "import pixsim_hooks.backend.events, pixsim_hooks.backend.cli\n"
        "create_app(entry_points=[])"
    )
    assert "redis" not in roots(loaded_after(code))
    assert "redis" in roots(loaded_after("from pixsim_hooks.backend.events import RedisEventLog"))

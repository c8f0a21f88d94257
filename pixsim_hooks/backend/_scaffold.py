"""``pixsim-hooks new-plugin``: a ready plugin package, written from the templates below.

One package per plugin: ``pyproject.toml`` (hatchling, the ``pixsim_hooks.plugins`` entry point, pytest set up for
the ``pixsim`` fixture), the module with its manifest (the least permissions its one hook needs) and a typed hookimpl,
``py.typed``, a test that runs in every tier and asserts what the hook does, and a short README. The generated code
passes ``ruff`` and ``mypy --strict`` (a test scaffolds each kind, installs it and runs both and its tests).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from pixsim_hooks.plugin import CORE_PLUGIN_ID, PLUGIN_ID_PATTERN

__all__ = ["KINDS", "ScaffoldError", "scaffold"]


class ScaffoldError(ValueError):
    """The name or the directory cannot be scaffolded (the message says why, in one line)."""


@dataclass(frozen=True, slots=True)
class _Kind:
    permissions: tuple[str, ...]
    summary: str
    imports: str
    body: str
    test: str


# -- the module's parts per kind --------------------------------------------------------------------------------------
_CONDITION = _Kind(
    permissions=("behavior:extend_conditions",),
    summary="a behavior condition, in_the_morning",
    imports="from collections.abc import Mapping\nfrom typing import Any\n\n"
    "from pixsim_hooks import NpcView, PluginContext, PluginManifest, Trust, hookimpl",
    body='''
def in_the_morning(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool:
    """True while the NPC's world clock says morning (06:00 to 12:00)."""
    return view.time_of_day == "morning"


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    # A world names it {"type": "custom", "evaluatorId": "plugin:$id:in_the_morning"} among an activity's
    # requirements.conditions.
    ctx.behavior.register_condition_evaluator("in_the_morning", in_the_morning)
''',
    test="""
HOUR = 3600


@pytest.mark.parametrize(("hour", "expected"), [(8, True), (13, False), (22, False)])
async def test_in_the_morning_follows_the_world_clock(pixsim: Harness, hour: int, expected: bool) -> None:
    world = await pixsim.world()
    session = await pixsim.session(world, world_time=hour * HOUR)
    assert await pixsim.condition("in_the_morning", npc=await pixsim.npc(world), session=session) is expected
    assert pixsim.failures() == ()
""",
)

_EFFECT = _Kind(
    permissions=("behavior:extend_effects",),
    summary="a behavior effect, give_coins",
    imports="from collections.abc import Mapping\nfrom typing import Any\n\n"
    "from pixsim_hooks import EffectWriter, NpcView, PluginContext, PluginManifest, Trust, hookimpl",
    body='''
def give_coins(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None:
    """Add ``params["amount"]`` (default 1) to the session's ``coins`` flag (stored as ``plugin:$id:coins``)."""
    amount = params.get("amount", 1)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError("give_coins: params.amount must be a positive integer")
    coins = writer.get_flag("coins", 0)
    writer.set_flag("coins", (coins if isinstance(coins, int) else 0) + amount)


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    # A world names it {"type": "effect:plugin:$id:give_coins", "params": {"amount": 2}} in an activity's
    # effects.customEffects.
    ctx.behavior.register_effect_handler("give_coins", give_coins)
''',
    test="""
async def test_give_coins_adds_to_the_sessions_coins(pixsim: Harness) -> None:
    world = await pixsim.world()
    session = await pixsim.session(world, flags={"plugin:$id:coins": 2})
    wrote = await pixsim.effect("give_coins", {"amount": 3}, npc=await pixsim.npc(world), session=session)
    assert wrote is not None and wrote.flags == {"coins": 5}


@pytest.mark.parametrize("amount", [0, -1, "3", True])
async def test_a_bad_amount_fails_and_gives_nothing(pixsim: Harness, amount: object) -> None:
    world = await pixsim.world()
    assert await pixsim.effect("give_coins", {"amount": amount}, npc=await pixsim.npc(world)) is None
    assert [failure.where for failure in pixsim.failures()] == ["effect:plugin:$id:give_coins"]
""",
)

_SCORING = _Kind(
    permissions=("behavior:extend_scoring",),
    summary="a behavior scoring factor, likes_leisure",
    imports="from collections.abc import Mapping\nfrom typing import Any\n\n"
    "from pixsim_hooks import NpcView, PluginContext, PluginManifest, Trust, hookimpl",
    body='''
def likes_leisure(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float:
    """Leisure activities score twice as high; the others are left as they are (1.0 is neutral)."""
    return 2.0 if activity.get("category") == "leisure" else 1.0


@hookimpl
def register_behavior(ctx: PluginContext) -> None:
    # It takes part in every candidate activity's score in worlds that enable the plugin (its key in
    # scoringConfig.weights is "plugin:$id:likes_leisure").
    ctx.behavior.register_scoring_factor("likes_leisure", likes_leisure)
''',
    test="""
@pytest.mark.parametrize(("category", "factor"), [("leisure", 2.0), ("work", 1.0)])
async def test_leisure_scores_twice_as_high(pixsim: Harness, category: str, factor: float) -> None:
    npc = await pixsim.npc(await pixsim.world())
    assert await pixsim.score("likes_leisure", {"id": "activity:x", "category": category}, npc=npc) == factor
    assert pixsim.failures() == ()
""",
)

_EVENT = _Kind(
    permissions=("event:subscribe", "session:read", "session:write"),
    summary="an event hook counting the player's interactions",
    imports="from pixsim_hooks import InteractionExecuted, PluginContext, PluginManifest, Trust, hookimpl",
    body='''
@hookimpl
async def on_interaction_executed(ctx: PluginContext, event: InteractionExecuted) -> None:
    """Count the player's interactions in the session's ``interactions`` flag (``plugin:$id:interactions``)."""
    count = await ctx.session.get_flag(event.session_id, "interactions", 0)
    await ctx.session.set_flag(event.session_id, "interactions", count + 1)
''',
    test="""
async def test_each_interaction_is_counted_in_the_session(pixsim: Harness) -> None:
    world = await pixsim.world()
    npc, session = await pixsim.npc(world), await pixsim.session(world)
    for _ in range(2):
        await pixsim.emit(InteractionExecuted(world.id, session.id, npc.id, "talk"))
    assert await pixsim.flag(session, "interactions") == 2


async def test_a_world_that_does_not_enable_the_plugin_is_left_alone(pixsim: Harness) -> None:
    world = await pixsim.world(enabled=[])
    npc, session = await pixsim.npc(world), await pixsim.session(world)
    await pixsim.emit(InteractionExecuted(world.id, session.id, npc.id, "talk"))
    assert await pixsim.flag(session, "interactions") is None
""",
)

_ROUTE = _Kind(
    permissions=("routes:register",),
    summary="an HTTP route, GET /api/v1/plugins/$id/hello",
    imports="from fastapi import APIRouter\nfrom pixsim_hooks import PluginContext, PluginManifest, Trust, hookimpl",
    body="""
async def hello() -> dict[str, str]:
    return {"hello": "world", "plugin": "$id"}


@hookimpl
def provide_router(ctx: PluginContext) -> APIRouter:
    # Served under /api/v1/plugins/$id/ in a sub-application of the plugin's own.
    router = APIRouter()
    router.add_api_route("/hello", hello, methods=["GET"])
    return router
""",
    test="""
async def test_hello_answers_under_the_plugins_prefix(pixsim: Harness) -> None:
    response = await pixsim.client.get(pixsim.url("/hello"))
    assert response.status_code == 200
    assert response.json() == {"hello": "world", "plugin": "$id"}
""",
)

KINDS = {"condition": _CONDITION, "effect": _EFFECT, "scoring": _SCORING, "event": _EVENT, "route": _ROUTE}

_TEST_IMPORTS = {
    "condition": "import pytest\nfrom pixsim_hooks.testing import Harness",
    "effect": "import pytest\nfrom pixsim_hooks.testing import Harness",
    "scoring": "import pytest\nfrom pixsim_hooks.testing import Harness",
    "event": "from pixsim_hooks import InteractionExecuted\nfrom pixsim_hooks.testing import Harness",
    "route": "from pixsim_hooks.testing import Harness",
}
_TEST_MARK: dict[str, str] = {}  # a kind whose tests cannot run in every tier would restrict them here

# -- the files ----------------------------------------------------------------------------------------------------
_MODULE = Template('''"""$title: $summary.

Installed through the entry point in pyproject.toml; ``pixsim-hooks plugins check`` loads it as the server would.
"""

from __future__ import annotations

$imports

manifest = PluginManifest(
    id="$id",
    name="$title",
    version="0.1.0",
    description="$Summary.",
    # partner: run in the host's process only where the operator vouches for it (PIXSIM_PLUGINS_TRUSTED);
    # anywhere else the host runs it in a sandboxed child process.
    trust=Trust.PARTNER,
    permissions=$permissions,  # the least its hook needs
)


$body''')

_TEST = Template('''"""$title, through a real host in each tier: in-process, in a sandboxed child, behind HTTP."""

from __future__ import annotations

$imports
$mark

async def test_it_loads_enabled_with_only_its_permissions(pixsim: Harness) -> None:
    info = pixsim.info()
    assert (info.state.value, info.permissions) == ("enabled", $permissions)


$test''')

_PYPROJECT = Template("""[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "$id"
version = "0.1.0"
description = "$Summary (a pixsim-hooks plugin)."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["pixsim-hooks"]

[project.optional-dependencies]
test = ["pixsim-hooks[testing]", "mypy>=1.11"]

[project.entry-points."pixsim_hooks.plugins"]
$id = "$module"

[tool.hatch.build.targets.wheel]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
pixsim_plugins = ["$module"]  # the plugin under test: each test asking for `pixsim` runs in every tier

[tool.mypy]
strict = true

[tool.ruff]
line-length = 120
""")

_README = Template("""# $id

A [pixsim-hooks](https://pypi.org/project/pixsim-hooks/) plugin: $summary.

```sh
pip install -e '.[test]'
pytest                     # every test in each tier: in_process, process (sandboxed, needs bubblewrap), remote
mypy --strict $module tests
pixsim-hooks plugins check # loads the installed plugins as the server would
```
""")


def _checked_name(name: str) -> str:
    """The module name of plugin id ``name``, or ScaffoldError saying what is wrong with it."""
    if not re.fullmatch(PLUGIN_ID_PATTERN, name):
        raise ScaffoldError(
            f"{name!r} is not a plugin id: 2 to 63 characters, a lower-case letter first, then a-z, 0-9, _ or -"
        )
    module = name.replace("-", "_")
    if name == CORE_PLUGIN_ID or keyword.iskeyword(module):
        raise ScaffoldError(f"{name!r} cannot be a plugin's id (reserved, or a Python keyword as a module name)")
    return module


def _tuple(values: Sequence[str]) -> str:
    """A tuple literal as ruff format writes it (a trailing comma only where one item needs it)."""
    items = ", ".join(f'"{v}"' for v in values)
    return f"({items},)" if len(values) == 1 else f"({items})"


def _files(name: str, module: str, kind: str) -> dict[str, str]:
    spec = KINDS[kind]
    permissions, sorted_permissions = _tuple(spec.permissions), _tuple(sorted(spec.permissions))
    summary = Template(spec.summary).substitute(id=name)
    words = {
        "id": name,
        "module": module,
        "title": name.replace("-", " ").replace("_", " ").capitalize(),
        "summary": summary,
        "Summary": summary[:1].upper() + summary[1:],
    }
    body = Template(spec.body).substitute(words).lstrip("\n")
    test = Template(spec.test).substitute(words).lstrip("\n")
    return {
        "pyproject.toml": _PYPROJECT.substitute(words),
        "README.md": _README.substitute(words),
        f"{module}/__init__.py": _MODULE.substitute(words, imports=spec.imports, permissions=permissions, body=body),
        f"{module}/py.typed": "",
        f"tests/test_{module}.py": _TEST.substitute(
            words,
            imports=_TEST_IMPORTS[kind],
            mark=_TEST_MARK.get(kind, ""),
            permissions=sorted_permissions,
            test=test,
        ),
    }


def scaffold(name: str, kind: str, directory: Path) -> list[Path]:
    """Write plugin ``name``'s package of ``kind`` into ``directory`` (new, or empty); the files written."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    module = _checked_name(name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ScaffoldError(f"{directory} exists and is not an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in _files(name, module, kind).items():
        path = directory / relative
        path.parent.mkdir(exist_ok=True)
        # A sandboxed plugin process runs as an unprivileged uid (65534 under a root host) and imports the
        # plugin's package from here: it must be readable by others whatever the author's umask.
        path.parent.chmod(0o755)
        path.write_text(text)
        path.chmod(0o644)
        written.append(path)
    directory.chmod(0o755)
    return written

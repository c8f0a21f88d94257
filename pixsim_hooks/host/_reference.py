"""The plugin author's reference, rendered from the code itself: every hookspec with its Python signature, permission
and fallback; the behavior extensions' calling conventions; the fields of snapshots, events and the NPC view.

``pixsim-hooks plugins reference`` prints it; ``docs/authoring.md`` embeds it between markers, and a test checks the
embedded copy is this function's output, so the guide cannot fall behind a new hook or field.
"""

from __future__ import annotations

import dataclasses
import inspect

import hookspecs
from hookspecs import contract_of
from pixsim_hooks.plugin import (
    GenerationSnapshot,
    InteractionExecuted,
    LocationChanged,
    LocationSnapshot,
    NpcSnapshot,
    NpcSpawned,
    NpcView,
    Permission,
    SessionCreated,
    SessionSnapshot,
    SessionUpdated,
    WorldSnapshot,
    WorldTimeAdvanced,
)

__all__ = ["EXTENSIONS", "plugin_reference"]

VALUES = (WorldSnapshot, LocationSnapshot, NpcSnapshot, SessionSnapshot, GenerationSnapshot, NpcView)
EVENTS = (SessionCreated, SessionUpdated, InteractionExecuted, NpcSpawned, LocationChanged, WorldTimeAdvanced)

EXTENSIONS = (
    (
        "condition",
        "ctx.behavior.register_condition_evaluator(name, fn)",
        Permission.BEHAVIOR_EXTEND_CONDITIONS,
        "fn(ctx: PluginContext, params: Mapping[str, Any], view: NpcView) -> bool",
        '{"type": "custom", "evaluatorId": "plugin:<id>:<name>", "params": {...}}',
        "wherever the behavior model takes `conditions` (an activity's requirements, a routine's edges and nodes)",
        "False (the activity is not available)",
    ),
    (
        "effect",
        "ctx.behavior.register_effect_handler(name, fn)",
        Permission.BEHAVIOR_EXTEND_EFFECTS,
        "fn(ctx: PluginContext, params: Mapping[str, Any], view: NpcView, writer: EffectWriter) -> None",
        '{"type": "effect:plugin:<id>:<name>", "params": {...}}',
        "in an activity's `effects.customEffects`",
        "skipped, none of its staged writes applied",
    ),
    (
        "scoring factor",
        "ctx.behavior.register_scoring_factor(name, fn)",
        Permission.BEHAVIOR_EXTEND_SCORING,
        "fn(ctx: PluginContext, activity: Mapping[str, Any], view: NpcView) -> float",
        '"plugin:<id>:<name>" (its key in `scoringConfig.weights`, default weight 1)',
        "every candidate activity in worlds that enable the plugin: an answer in 0..1e6 multiplies its score",
        "1.0 (neutral)",
    ),
)
"""Each kind: what registers it, its permission, how the host calls it, how a world names it, where, its fallback."""


def plugin_reference() -> str:
    """The reference as Markdown (deterministic: the same code gives the same text)."""
    return "\n".join([*_hooks(), "", *_extensions(), "", *_fields("Values", VALUES), "", *_fields("Events", EVENTS)])


def _hooks() -> list[str]:
    lines = [
        "### Hooks",
        "",
        "Implement them with `@hookimpl` (module functions or methods); the host passes `ctx` and the arguments by",
        "name. Without the permission a hook is never called (`plugins check` says so).",
        "",
        "| hook | signature | permission | on failure | what it is for |",
        "|---|---|---|---|---|",
    ]
    for module in hookspecs.SPEC_MODULES:
        for name in module.__all__:
            spec = getattr(module, name)
            rule = contract_of(spec)
            signature = f"`{name}{_signature(spec)}`"
            permission = f"`{rule.permission}`" if rule.permission else "—"
            doc = (inspect.getdoc(spec) or "").split("\n\n")[0].replace("\n", " ")
            lines.append(f"| {name} | {signature} | {permission} | {rule.fallback.value} | {doc} |")
    return lines


def _signature(fn: object) -> str:
    signature = inspect.signature(fn)  # type: ignore[arg-type]
    shown = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"({shown}) -> {signature.return_annotation}".replace("|", "\\|")


def _extensions() -> list[str]:
    lines = [
        "### Behavior extensions",
        "",
        "Registered in `register_behavior(ctx)`; the name is namespaced under the plugin's id.",
        "",
        "| kind | registered with | permission | called as | a world names it | where | on failure |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, registered, permission, called, named, where, fallback in EXTENSIONS:
        lines.append(
            f"| {kind} | `{registered}` | `{permission.value}` | `{called}` | `{named}` | {where} | {fallback} |"
        )
    return lines


def _fields(title: str, classes: tuple[type, ...]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "All read-only (`JSONMap` is a read-only `Mapping[str, Any]`; `thaw(value)` gives a mutable copy).",
        "",
    ]
    for cls in classes:
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        said = "" if doc.startswith(f"{cls.__name__}(") else f" ({doc.rstrip('.')})"  # a dataclass's own repr: none
        fields = ", ".join(f"`{f.name}: {f.type}`" for f in dataclasses.fields(cls))
        lines.append(f"- **{cls.__name__}**{said}: {fields}")
    return lines

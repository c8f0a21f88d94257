"""``pixsim-hooks plugins ...``: the installed plugins as a host with no storage loads them.

Loading runs each plugin's ``on_load`` / ``register_behavior`` / ``on_enable`` exactly as the server would (against
an unattached storage), so what ``plugins check`` reports is what ``serve`` would quarantine.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pixsim_hooks.backend._cli_common import load_settings
from pixsim_hooks.host import PluginInfo, PluginState, Settings, create_host, plugin_reference
from pixsim_hooks.plugin import Isolation, Permission

__all__ = ["plugins_app"]

plugins_app = typer.Typer(
    name="plugins",
    help="Inspect the plugins installed in the `pixsim_hooks.plugins` entry-point group.",
    no_args_is_help=True,
)

_STATE_STYLE = {
    PluginState.ENABLED: "green",
    PluginState.LOADED: "cyan",
    PluginState.DISABLED: "yellow",
    PluginState.QUARANTINED: "bold red",
}


async def _load(settings: Settings) -> tuple[list[PluginInfo], dict[str, str]]:
    host = create_host(settings, entry_points=None)
    await host.load()
    try:
        infos = host.plugins()
        return infos, {info.id: host.runs_as(info.id) for info in infos}
    finally:
        await host.shutdown()  # on_disable runs, as it would when a server stops


def loaded_plugins() -> list[PluginInfo]:
    """Every installed plugin, loaded under the settings from the environment (allow / deny / trusted ...)."""
    return asyncio.run(_load(load_settings()))[0]


# Plugin-controlled text (ids, reasons: a pydantic pattern such as ``^[a-z][a-z0-9_-]{1,62}$``) goes in as Text,
# never as markup: Rich would take its brackets for style tags and eat them.
def _row(info: PluginInfo) -> list[Text]:
    manifest = info.manifest
    described = (
        [manifest.version, manifest.kind.value, manifest.trust.value, manifest.isolation.value]
        if manifest
        else ["-"] * 4
    )
    state = Text(info.state.value, style=_STATE_STYLE[info.state])
    cells = [info.id, *described]
    return [*map(Text, cells), state, Text(", ".join(info.permissions) or "-"), Text(info.reason or "")]


def plugins_table(infos: Sequence[PluginInfo]) -> Table:
    table = Table(title="pixsim_hooks.plugins")
    table.add_column("id", no_wrap=True, style="bold")
    for name in ("version", "kind", "trust", "isolation", "state"):
        table.add_column(name, no_wrap=True)
    table.add_column("permissions")
    table.add_column("reason", overflow="fold")
    for info in infos:
        table.add_row(*_row(info))
    return table


_KNOWN = sorted({p.value for p in Permission} | {f"{p.value.split(':')[0]}:*" for p in Permission})


def _problems(info: PluginInfo, runs: str) -> list[str]:
    """What in a loaded plugin's manifest cannot be what its author meant (each fails ``plugins check``)."""
    found = []
    asked = info.manifest.isolation if info.manifest is not None else None
    if asked is Isolation.IN_PROCESS and runs != "in_process" and info.state is not PluginState.QUARANTINED:
        found.append(
            f"asks to run in the host's process but runs as {runs}: the host imports only plugins it was told to "
            "trust (PIXSIM_PLUGINS_TRUSTED, or installed with pixsim-hooks); declare isolation 'process'"
        )
    for unknown in info.unknown_permissions:
        close = difflib.get_close_matches(unknown, _KNOWN, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(_KNOWN)})"
        found.append(f"asks for the unknown permission {unknown!r}, which grants nothing{hint}")
    for hook in sorted(info.ignored_hooks):
        found.append(f"implements {hook!r} without the permission it needs: the hook is never called")
    return found


@plugins_app.command("list")
def list_plugins() -> None:
    """Show every installed plugin: version, kind, trust, isolation, state, permissions and, if refused, why.

    Honours PIXSIM_PLUGINS_ALLOW / _DENY / _DISABLED / _TRUSTED like the server does.
    """
    infos = loaded_plugins()
    console = Console()
    if not infos:
        console.print("No plugins installed in the [bold]pixsim_hooks.plugins[/] entry-point group.")
        return
    console.print(plugins_table(infos))


@plugins_app.command("check")
def check_plugins() -> None:
    """Load every installed plugin as the server would; exit 1 if any is quarantined, asks for a permission that does
    not exist (with the closest one that does), implements a hook without its permission or cannot run where its
    manifest asks (a sandboxed child's hook that needs the host's process quarantines it; an untrusted plugin that
    asks for the host's process runs in a child), naming each."""
    infos, runs = asyncio.run(_load(load_settings()))
    console = Console(highlight=False)
    failing = 0
    for info in infos:
        problems = [("quarantined", info.reason or "")] if info.state is PluginState.QUARANTINED else []
        problems += [("error", problem) for problem in _problems(info, runs[info.id])]
        for label, problem in problems:
            console.print(Text.assemble((label, "bold red"), f" {info.id}: {problem}"))
        failing += bool(problems)
    if failing:
        console.print(Text(f"{failing} of {len(infos)} plugins have problems."))
        raise typer.Exit(1)
    console.print(Text.assemble(("ok", "green"), f": {len(infos)} plugins load cleanly."))


@plugins_app.command("reference")
def reference() -> None:
    """Print the plugin author's reference (Markdown): every hook with its signature, permission and fallback, the
    behavior extensions' calling conventions, the fields of snapshots, events and the NPC view."""
    typer.echo(plugin_reference())

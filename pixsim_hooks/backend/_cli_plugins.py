"""``pixsim-hooks plugins ...``: the installed plugins as a host with no storage loads them.

Loading runs each plugin's ``on_load`` / ``register_behavior`` / ``on_enable`` exactly as the server would (against
an unattached storage), so what ``plugins check`` reports is what ``serve`` would quarantine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.table import Table

from pixsim_hooks.backend._cli_common import load_settings
from pixsim_hooks.host import PluginInfo, PluginState, Settings, create_host

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


async def _load(settings: Settings) -> list[PluginInfo]:
    host = create_host(settings, entry_points=None)
    await host.load()
    try:
        return host.plugins()
    finally:
        await host.shutdown()  # on_disable runs, as it would when a server stops


def loaded_plugins() -> list[PluginInfo]:
    """Every installed plugin, loaded under the settings from the environment (allow / deny / trusted ...)."""
    return asyncio.run(_load(load_settings()))


def _row(info: PluginInfo) -> list[str]:
    manifest = info.manifest
    described = (
        [manifest.version, manifest.kind.value, manifest.trust.value, manifest.isolation.value]
        if manifest
        else ["-"] * 4
    )
    state = f"[{_STATE_STYLE[info.state]}]{info.state.value}[/]"
    return [info.id, *described, state, ", ".join(info.permissions) or "-", info.reason or ""]


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


def _warnings(info: PluginInfo) -> list[str]:
    found = []
    if info.unknown_permissions:
        found.append(f"asks for unknown permissions {list(info.unknown_permissions)} (they grant nothing)")
    if info.ignored_hooks:
        found.append(f"implements {list(info.ignored_hooks)} without the permission; those hooks are never called")
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
    """Load every installed plugin as the server would; exit 1 if any is quarantined, naming each reason.

    Unknown permissions and hooks implemented without their permission are reported as warnings (exit 0).
    """
    infos = loaded_plugins()
    console = Console()
    quarantined = [info for info in infos if info.state is PluginState.QUARANTINED]
    for info in infos:
        for warning in _warnings(info):
            console.print(f"[yellow]warning[/] {info.id}: {warning}")
    for info in quarantined:
        console.print(f"[bold red]quarantined[/] {info.id}: {info.reason}")
    if quarantined:
        console.print(f"{len(quarantined)} of {len(infos)} plugins quarantined.")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(infos)} plugins load cleanly.")

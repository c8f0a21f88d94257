"""Lifecycle hooks: called by the host around loading and (global) enable / disable of a plugin.

A lifecycle hookimpl that raises, is denied, or misses its deadline quarantines its plugin with that reason; the
other plugins go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookspecs._markers import Fallback, contract, hookspec

if TYPE_CHECKING:
    from pixsim_hooks.plugin import PluginContext

__all__ = ["on_disable", "on_enable", "on_load"]


@hookspec
@contract(kind="lifecycle", permission=None, fallback=Fallback.QUARANTINE)
def on_load(ctx: PluginContext) -> None:
    """Called once after the plugin is registered and its context is built, before it is enabled.

    :param ctx: the plugin's own context. Permission: none. Return: ignored.
    Failure: the plugin is quarantined (with the reason) and unregistered; its dependents are quarantined too.
    """


@hookspec
@contract(kind="lifecycle", permission=None, fallback=Fallback.QUARANTINE)
def on_enable(ctx: PluginContext) -> None:
    """Called when the plugin becomes globally enabled (at boot unless disabled by settings, or by the admin).

    :param ctx: the plugin's own context. Permission: none. Return: ignored.
    Failure: the plugin is quarantined with the reason and stays out of every dispatch.
    """


@hookspec
@contract(kind="lifecycle", permission=None, fallback=Fallback.QUARANTINE)
def on_disable(ctx: PluginContext) -> None:
    """Called when the plugin is globally disabled (admin) or the host shuts down.

    :param ctx: the plugin's own context. Permission: none. Return: ignored.
    Failure: recorded; the plugin is quarantined (it is out of dispatch either way).
    """

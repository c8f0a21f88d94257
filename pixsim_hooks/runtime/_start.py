"""Starting an out-of-process plugin: the one place a transport is chosen for what the operator installed.

A :class:`ProcessPlugin` names its code as ``"module:attr"`` (the host never imports it) and gets a sandboxed child;
its manifest comes from the child's welcome. A :class:`RemotePlugin` is configured with its manifest (endpoint,
secret setting): that configuration is the plugin's identity, and the remote's welcome must name the same id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from pixsim_hooks.plugin import (
    Isolation,
    ManifestError,
    PermissionDenied,
    PluginLoadError,
    PluginManifest,
    ProcessRuntime,
    parse_manifest,
)
from pixsim_hooks.runtime._descriptors import ProcessPlugin, RemotePlugin
from pixsim_hooks.runtime._isolated import IsolatedPlugin, RestartPolicy, Transport
from pixsim_hooks.runtime._process import ProcessTransport

__all__ = ["RuntimeLimits", "Started", "start_isolated"]


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """The host's settings an out-of-process plugin runs under (the host builds this from its own settings)."""

    deadline_s: float = 2.0
    max_message_bytes: int = 1 << 20
    spin_us: int = 0
    crash_limit: int = 3
    crash_window_s: float = 300.0
    event_queue: int = 1000


@dataclass(frozen=True, slots=True)
class Started:
    """A started plugin: its runtime, its approved manifest, and the stand-in object pluggy registers."""

    isolated: IsolatedPlugin
    manifest: PluginManifest
    stand_in: object


async def start_isolated(
    descriptor: ProcessPlugin | RemotePlugin,
    source: str,
    limits: RuntimeLimits,
    *,
    on_denied: Callable[[PermissionDenied], None],
    on_crash_loop: Callable[[str], None],
    on_failure: Callable[[str, BaseException], None],
) -> Started:
    """Start the plugin's process (or reach its endpoint) and check its welcome. Raises PluginLoadError (the caller
    quarantines) after stopping what it started."""
    transport, configured = _transport(descriptor, source, limits)
    isolated = IsolatedPlugin(
        transport,
        deadline_s=limits.deadline_s,
        on_denied=on_denied,
        on_crash_loop=on_crash_loop,
        interning=isinstance(descriptor, ProcessPlugin),
        policy=RestartPolicy(limit=limits.crash_limit, window_s=limits.crash_window_s),
        fire_and_forget_events=isinstance(descriptor, RemotePlugin),
        event_queue=limits.event_queue,
        on_failure=on_failure,
    )
    try:
        await isolated.start()
        manifest = _approved_manifest(isolated, configured, source)
    except Exception as exc:
        await isolated.stop()
        if isinstance(exc, PluginLoadError):
            raise
        raise PluginLoadError(f"plugin {source!r}: {type(exc).__name__}: {exc}") from None
    tighter = _asked_limits(descriptor, manifest) if isinstance(descriptor, ProcessPlugin) else None
    if tighter is not None:
        assert isinstance(descriptor, ProcessPlugin)
        # The manifest is known only from the child's welcome: the child that sent it ran under the defaults, so
        # the plugin runs from a child started under what it asked for (never above the defaults) instead.
        await isolated.stop()
        return await start_isolated(
            replace(descriptor, runtime=tighter),
            source,
            limits,
            on_denied=on_denied,
            on_crash_loop=on_crash_loop,
            on_failure=on_failure,
        )
    return Started(isolated, manifest, isolated.stand_in(manifest))


def _asked_limits(descriptor: ProcessPlugin, manifest: PluginManifest) -> ProcessRuntime | None:
    """The limits a process plugin's manifest asks for, bounded by the defaults, when they differ from what its
    child runs under; None when the operator set them (``ProcessPlugin(runtime=...)``) or nothing is asked."""
    if descriptor.runtime is not None or manifest.process is None:
        return None
    asked = manifest.process.within(ProcessRuntime())
    return asked if asked != ProcessRuntime() else None


def _transport(
    descriptor: ProcessPlugin | RemotePlugin, source: str, limits: RuntimeLimits
) -> tuple[Transport, PluginManifest | None]:
    max_bytes = limits.max_message_bytes
    if isinstance(descriptor, ProcessPlugin):
        label = source.removeprefix("process:")
        return ProcessTransport(label, descriptor, max_bytes, limits.spin_us), None
    manifest = parse_manifest(descriptor.manifest, source=source)
    if manifest.remote is None:
        raise PluginLoadError(
            f"plugin {manifest.id!r}: a remote plugin needs a 'remote' section", plugin_id=manifest.id
        )
    secret = os.environ.get(manifest.remote.secret_setting)
    if not secret:
        raise PluginLoadError(
            f"plugin {manifest.id!r}: its HMAC secret setting {manifest.remote.secret_setting} is not set",
            plugin_id=manifest.id,
        )
    # Here, not at the top: httpx is a fifth of a plugin child's start-up, and the child never needs it.
    from pixsim_hooks.runtime._remote import RemoteTransport

    return RemoteTransport(manifest.id, manifest.remote, secret.encode(), max_bytes), manifest


def _approved_manifest(isolated: IsolatedPlugin, configured: PluginManifest | None, source: str) -> PluginManifest:
    try:
        claimed = isolated.manifest()
    except ManifestError as exc:
        raise PluginLoadError(str(exc), plugin_id=exc.plugin_id) from None
    if configured is None:  # a child process: its manifest, run at least as isolated as it asks
        if claimed.isolation is Isolation.REMOTE:
            raise PluginLoadError(f"plugin {claimed.id!r} declares isolation 'remote' but was installed as a process")
        return claimed
    if claimed.id != configured.id:  # identity comes from the configuration, never from the payload
        raise PluginLoadError(
            f"plugin {configured.id!r}: the endpoint answered as {claimed.id!r}; refused", plugin_id=configured.id
        )
    return configured

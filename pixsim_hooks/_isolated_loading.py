"""Out-of-process plugins at load time: what the operator installs (:class:`ProcessPlugin`, :class:`RemotePlugin`),
and turning one into a started :class:`~pixsim_hooks._isolated.IsolatedPlugin` plus its pluggy stand-in.

A :class:`ProcessPlugin` names its code as ``"module:attr"``; the host never imports it. The manifest comes from the
child's welcome. A :class:`RemotePlugin` is configured with its manifest (endpoint, secret setting): that
configuration is the plugin's identity, and the remote's welcome must name the same id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

from pixsim_hooks._exceptions import ManifestError, PermissionDenied, PluginLoadError
from pixsim_hooks._isolated import IsolatedPlugin, RestartPolicy, Transport
from pixsim_hooks._loading import Candidate, ProcessPlugin, RemotePlugin
from pixsim_hooks._manifest import Isolation, PluginManifest, parse_manifest
from pixsim_hooks._settings import Settings

__all__ = ["effective_isolation", "isolate", "start_isolated", "target_of"]


def target_of(obj: object) -> str:
    """``module:attr`` of an already imported plugin object (a module, a class or a module-level instance)."""
    if isinstance(obj, ModuleType):
        return obj.__name__
    if isinstance(obj, type):
        return f"{obj.__module__}:{obj.__qualname__}"
    module = type(obj).__module__
    for name, value in vars(__import__(module, fromlist=["_"])).items():
        if value is obj:
            return f"{module}:{name}"
    raise PluginLoadError(f"plugin object {obj!r} cannot be found again by module:attr to run in a child process")


def isolate(candidate: Candidate) -> None:
    """An in-process plugin object whose manifest asks for process or remote isolation is not run in-process:
    it is replaced by the descriptor that runs it as it asks."""
    manifest, obj = candidate.manifest, candidate.obj
    if candidate.error is not None or manifest is None or isinstance(obj, ProcessPlugin | RemotePlugin):
        return
    if manifest.isolation is Isolation.PROCESS:
        try:
            candidate.obj = ProcessPlugin(target_of(obj), manifest.process)
        except PluginLoadError as exc:
            candidate.error = exc
    elif manifest.isolation is Isolation.REMOTE:
        candidate.obj = RemotePlugin(manifest)


def effective_isolation(candidate: Candidate) -> Isolation | None:
    """How the host will run this candidate, when it differs from in-process."""
    if isinstance(candidate.obj, ProcessPlugin):
        return Isolation.PROCESS
    if isinstance(candidate.obj, RemotePlugin):
        return Isolation.REMOTE
    return None


async def start_isolated(
    candidate: Candidate,
    settings: Settings,
    *,
    on_denied: Callable[[PermissionDenied], None],
    on_crash_loop: Callable[[str], None],
    on_failure: Callable[[str, BaseException], None],
) -> IsolatedPlugin:
    """Start the plugin's process (or reach its endpoint), check its welcome, and make ``candidate`` hold the
    plugin's manifest and stand-in. Raises PluginLoadError (the caller quarantines) after stopping what it started."""
    descriptor = candidate.obj
    transport, configured = _transport(descriptor, candidate.source, settings)
    isolated = IsolatedPlugin(
        transport,
        deadline_s=settings.hook_deadline_ms / 1000,
        on_denied=on_denied,
        on_crash_loop=on_crash_loop,
        interning=isinstance(descriptor, ProcessPlugin),
        policy=RestartPolicy(limit=settings.sandbox_crash_limit, window_s=settings.sandbox_crash_window_s),
        fire_and_forget_events=isinstance(descriptor, RemotePlugin),
        event_queue=settings.remote_event_queue,
        on_failure=on_failure,
    )
    try:
        await isolated.start()
        manifest = _approved_manifest(isolated, configured, candidate.source)
    except Exception as exc:
        await isolated.stop()
        if isinstance(exc, PluginLoadError):
            raise
        raise PluginLoadError(f"plugin {candidate.source!r}: {type(exc).__name__}: {exc}") from None
    candidate.manifest = manifest
    candidate.obj = isolated.stand_in(manifest)
    return isolated


def _transport(descriptor: object, source: str, settings: Settings) -> tuple[Transport, PluginManifest | None]:
    max_bytes = settings.sandbox_max_message_bytes
    if isinstance(descriptor, ProcessPlugin):
        from pixsim_hooks._sandbox import ProcessTransport

        label = source.removeprefix("process:")
        transport = ProcessTransport(label, descriptor, max_bytes, settings.sandbox_spin_us)
        return transport, None
    assert isinstance(descriptor, RemotePlugin)
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
    from pixsim_hooks._remote import RemoteTransport

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

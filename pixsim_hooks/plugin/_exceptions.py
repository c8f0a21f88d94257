"""Every error pixsim-hooks raises, in one place.

The tree::

    Exception
     ├── proxies.PermissionDenied          a plugin touched a capability member it was not granted
     │    ├── NamespaceViolation           ... or wrote / registered outside its own ``plugin:<id>:`` namespace
     │    └── PluginNotEnabled             ... or acted on a world that has not enabled it
     ├── proxies.CapabilityError           a granted capability call failed (sanitized message only)
     └── PixsimHooksError                  base of everything below; ``.plugin_id`` when a plugin is involved
          ├── ManifestError                a manifest failed validation (names plugin and field)
          ├── PluginLoadError              a plugin could not be loaded or enabled (it is quarantined)
          │    └── DependencyError         a dependency is missing, quarantined or part of a cycle
          ├── UnknownPluginError           an operation named a plugin the host does not know
          ├── HookDeadlineExceeded         a hook call ran past its deadline (also a TimeoutError)
          ├── NotFoundError                a world / session / NPC / ... does not exist (also a LookupError)
          ├── ProtocolError                an out-of-process plugin broke the wire protocol (its process is killed)
          ├── PluginCrashed                an out-of-process plugin's process died, or its remote is unreachable
          │    └── ConversationLost        a remote restarted and no longer knows this host (greet it again)
          ├── RemotePluginError            an out-of-process plugin's own code raised (``.error_type`` names it)
          ├── StaleWriteError              an optimistic-locking write lost every retry
          ├── WriterClosed                 an effect's writer used after its call returned (also a RuntimeError)
          └── ConfigError                  world or settings JSON is malformed (names the JSON path)

``PermissionDenied`` and ``CapabilityError`` live in :mod:`proxies` (the layer below) and are re-exported here.
Errors marked ``__plugin_safe__`` may cross a capability call back to plugin code with their message intact; any
other error is reduced to a :class:`proxies.CapabilityError` naming only its type.
"""

from __future__ import annotations

from proxies import CapabilityError, PermissionDenied

__all__ = [
    "CapabilityError",
    "ConfigError",
    "ConversationLost",
    "CoreError",
    "DependencyError",
    "HookDeadlineExceeded",
    "ManifestError",
    "NamespaceViolation",
    "NotFoundError",
    "PermissionDenied",
    "PixsimHooksError",
    "PluginCrashed",
    "PluginLoadError",
    "PluginNotEnabled",
    "ProtocolError",
    "RemotePluginError",
    "StaleWriteError",
    "UnknownPluginError",
    "WriterClosed",
]


class PixsimHooksError(Exception):
    """Base class of pixsim-hooks' own errors."""

    def __init__(self, message: str, *, plugin_id: str | None = None) -> None:
        super().__init__(message)
        self.plugin_id = plugin_id

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[PixsimHooksError], message: str, state: dict[str, object]) -> PixsimHooksError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ManifestError(PixsimHooksError, ValueError):
    """A plugin manifest is invalid. ``.field`` names the offending field (dotted), when known."""

    def __init__(self, message: str, *, plugin_id: str | None, field: str | None = None) -> None:
        super().__init__(message, plugin_id=plugin_id)
        self.field = field


class PluginLoadError(PixsimHooksError):
    """A plugin failed to import, register, load or enable; the host quarantines it with this reason."""


class DependencyError(PluginLoadError):
    """A plugin's dependency is missing, quarantined, or the dependencies form a cycle."""


class UnknownPluginError(PixsimHooksError, LookupError):
    """An operation named a plugin id the host has never seen."""

    __plugin_safe__ = True


class HookDeadlineExceeded(PixsimHooksError, TimeoutError):
    """A hookimpl (or the hook call as a whole) ran past its deadline."""


class NotFoundError(PixsimHooksError, LookupError):
    """A requested world, location, NPC, session or generation does not exist."""

    __plugin_safe__ = True


class ProtocolError(PixsimHooksError):
    """An out-of-process plugin sent something the protocol forbids: malformed, oversized, too deeply nested or
    non-finite JSON, duplicate keys, a message of the wrong type, or a reply to a request that is not outstanding.
    The host rejects the message, records the failure and (for a child process) kills it."""


class PluginCrashed(PixsimHooksError):
    """An out-of-process plugin cannot answer: its process died or was killed, is restarting, or its remote
    endpoint is unreachable. The call falls back like any other failure."""


class ConversationLost(PluginCrashed):
    """A remote plugin answered 409: it no longer knows this host (it restarted and lost the grant and its
    registrations). The host says hello, grants and replays the registrations before its next call."""


class RemotePluginError(PixsimHooksError):
    """An out-of-process plugin's code raised while handling a call; ``.error_type`` is the class name it reported.
    Only text crosses the channel, never an object: the name, the message and, when the plugin sent it, the
    traceback its own process formatted (``.child_traceback``, for the host's log)."""

    def __init__(
        self, message: str, *, plugin_id: str | None, error_type: str, child_traceback: str | None = None
    ) -> None:
        super().__init__(message, plugin_id=plugin_id)
        self.error_type = error_type
        self.child_traceback = child_traceback


class CoreError(PixsimHooksError):
    """The host's own code failed while serving a plugin's call (its storage, a bug of the core): the core's problem,
    never the plugin's, so a plugin route that lets it through answers a core 500 and the plugin is not blamed.
    ``__cause__`` is what failed; its message stays in the server log."""

    __plugin_safe__ = True  # passes the capability proxy as itself, so the route's answer can tell it apart


class StaleWriteError(PixsimHooksError):
    """A version-checked write kept losing to concurrent writers and gave up; nothing was written."""

    __plugin_safe__ = True


class WriterClosed(PixsimHooksError, RuntimeError):
    """An effect kept its ``writer`` and used it after its call returned: the writer is closed."""

    __plugin_safe__ = True


class ConfigError(PixsimHooksError, ValueError):
    """Configuration JSON (world meta, settings) is malformed. ``.path`` is the JSON path, e.g. ``meta.behavior``."""

    __plugin_safe__ = True

    def __init__(self, message: str, *, path: str, plugin_id: str | None = None) -> None:
        super().__init__(message, plugin_id=plugin_id)
        self.path = path


class NamespaceViolation(PermissionDenied):
    """A plugin tried to write or register under a namespace that is not its own (red-team items 19, 25)."""

    __plugin_safe__ = True
    _fields = ("plugin_id", "capability", "member", "target")
    target: str

    def __init__(self, plugin_id: str, capability: str, member: str, target: str) -> None:
        vars(self).update(plugin_id=plugin_id, permission=None, capability=capability, member=member, target=target)
        Exception.__init__(
            self,
            f"plugin {plugin_id!r} may not use {target!r} in {capability}.{member}: "
            f"it is outside the plugin's namespace 'plugin:{plugin_id}:'",
        )


class PluginNotEnabled(PermissionDenied):
    """A plugin tried to act on a world that has not enabled it, or while it is globally disabled (item 20)."""

    __plugin_safe__ = True
    _fields = ("plugin_id", "world_id", "why")
    world_id: int | None
    why: str

    def __init__(self, plugin_id: str, world_id: int | None, why: str) -> None:
        member = "context" if world_id is None else str(world_id)
        vars(self).update(
            plugin_id=plugin_id, permission=None, capability="world", member=member, world_id=world_id, why=why
        )
        where = "" if world_id is None else f" in world {world_id}"
        Exception.__init__(self, f"plugin {plugin_id!r} may not act{where}: {why}")

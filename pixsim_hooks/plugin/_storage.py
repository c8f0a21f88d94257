"""The storage protocols the capability layer is written against; the backend implements them.

Every method returns immutable snapshots (see :mod:`pixsim_hooks.plugin._snapshots`), never ORM rows or sessions.
Missing rows are ``None`` from ``get_*`` and :class:`~pixsim_hooks.NotFoundError` from writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from pixsim_hooks.plugin._exceptions import CoreError, PixsimHooksError
from pixsim_hooks.plugin._snapshots import (
    GenerationRequest,
    GenerationSnapshot,
    LocationSnapshot,
    NpcSnapshot,
    SessionChange,
    SessionSnapshot,
    WorldSnapshot,
)

__all__ = [
    "CoreStorage",
    "GenerationStore",
    "NpcStore",
    "SessionStore",
    "Storage",
    "WorldStore",
]


class WorldStore(Protocol):
    async def get_world(self, world_id: int) -> WorldSnapshot | None: ...
    async def list_locations(self, world_id: int) -> tuple[LocationSnapshot, ...]: ...
    async def get_location(self, location_id: int) -> LocationSnapshot | None: ...


class NpcStore(Protocol):
    async def get_npc(self, npc_id: int) -> NpcSnapshot | None: ...
    async def list_npcs(self, world_id: int) -> tuple[NpcSnapshot, ...]: ...


class SessionStore(Protocol):
    async def get_session(self, session_id: int) -> SessionSnapshot | None: ...

    async def apply_change(self, session_id: int, change: SessionChange) -> SessionSnapshot:
        """Apply ``change`` atomically under the optimistic ``version`` check and return the new snapshot.

        Raises NotFoundError when the session does not exist and StaleWriteError when the version check keeps
        failing (or ``change.expected_version`` does not match). Nothing is written when it raises.
        """
        ...


class GenerationStore(Protocol):
    async def submit(self, request: GenerationRequest) -> GenerationSnapshot: ...
    async def get(self, generation_id: int) -> GenerationSnapshot | None: ...


class Storage(Protocol):
    """Everything the capability layer needs from the game backend."""

    @property
    def worlds(self) -> WorldStore: ...
    @property
    def npcs(self) -> NpcStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def generations(self) -> GenerationStore: ...


class _CoreCalls:
    """One store whose failures are the core's: anything its calls raise that is not one of pixsim-hooks' own errors
    (a driver's ``OverflowError``, a lost database connection) is reported host-side, whole, and comes out as a bare
    :class:`CoreError` naming only its type (the driver's text quotes SQL; nothing of it reaches plugin code)."""

    __slots__ = ("_report", "_store")

    def __init__(self, store: object, report: Callable[[BaseException], None]) -> None:
        self._store = store
        self._report = report

    def __getattr__(self, name: str) -> Any:
        method, report = getattr(self._store, name), self._report

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except PixsimHooksError:
                raise
            except Exception as exc:
                report(exc)
                failed = type(exc).__name__
            raise CoreError(f"the host's storage failed ({failed}); see the server log")

        return call


class CoreStorage:
    """``storage`` as the capability layer uses it on a plugin's behalf: the same stores, whose own failures are
    :class:`CoreError` (see :class:`_CoreCalls`), so that what the core gets wrong is never the plugin's failure."""

    __slots__ = ("generations", "npcs", "sessions", "worlds")

    def __init__(self, storage: Storage, report: Callable[[BaseException], None]) -> None:
        self.worlds = cast(WorldStore, _CoreCalls(storage.worlds, report))
        self.npcs = cast(NpcStore, _CoreCalls(storage.npcs, report))
        self.sessions = cast(SessionStore, _CoreCalls(storage.sessions, report))
        self.generations = cast(GenerationStore, _CoreCalls(storage.generations, report))

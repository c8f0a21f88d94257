"""The storage of a host that has no game backend attached (e.g. ``pixsim-hooks plugins check``).

Every capability call that needs the database fails with a clear error instead of a confusing AttributeError.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pixsim_hooks.plugin import PixsimHooksError

__all__ = ["UnattachedStorage"]


class _Unattached:
    def __getattr__(self, name: str) -> Any:
        async def refuse(*args: object, **kwargs: object) -> NoReturn:
            raise PixsimHooksError(f"this plugin host has no game storage attached (called {name})")

        return refuse


class UnattachedStorage:
    worlds: Any = _Unattached()
    npcs: Any = _Unattached()
    sessions: Any = _Unattached()
    generations: Any = _Unattached()

"""Real HTTP servers for tests: the test kit's :class:`~pixsim_hooks.testing.ServedApp` (a uvicorn server on a free
loopback port, in a thread), one implementation for the suite and for plugin authors' remote tier."""

from __future__ import annotations

from pixsim_hooks.testing import ServedApp

__all__ = ["ServedApp"]

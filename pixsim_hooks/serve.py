"""Serve a plugin over HTTP to PixSim hosts (``kind: remote``)::

    PIXSIM_WEATHER_REMOTE_SECRET=... python -m pixsim_hooks.serve contrib_plugins.weather \\
        --secret-env PIXSIM_WEATHER_REMOTE_SECRET --port 8765

The target is ``package.module`` or ``package.module:attr``; the HMAC secret is read from the environment variable
``--secret-env`` names. See :func:`pixsim_hooks.serve_plugin` for what the server checks.
"""

from __future__ import annotations

from pixsim_hooks._remote_server import main

__all__ = ["main"]

if __name__ == "__main__":
    main()

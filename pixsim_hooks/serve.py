"""Serve a plugin over HTTP to PixSim hosts (``kind: remote``)::

    PIXSIM_WEATHER_REMOTE_SECRET=... python -m pixsim_hooks.serve contrib_plugins.weather \\
        --secret-env PIXSIM_WEATHER_REMOTE_SECRET --port 8765

The target is ``package.module`` or ``package.module:attr``; the HMAC secret is read from the environment variable
``--secret-env`` names. See :func:`pixsim_hooks.runtime.serve_plugin` for what the server checks. Run one process
per endpoint: the conversation with a host lives in it.

Imports only the runtime's face (and uvicorn when it runs): never the host, FastAPI or telemetry.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import TYPE_CHECKING

from pixsim_hooks.runtime import serve_plugin

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["load_target", "main", "serve_plugin"]


def load_target(target: str) -> object:
    """``package.module`` or ``package.module:attr`` (``attr`` may be dotted) → the object."""
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pixsim_hooks.serve",
        description="Serve a plugin over HTTP to PixSim hosts (a 'kind: remote' plugin).",
    )
    parser.add_argument("target", help="the plugin: package.module or package.module:attr")
    parser.add_argument(
        "--secret-env",
        required=True,
        metavar="NAME",
        help="environment variable holding the HMAC secret (the secret itself never goes on a command line)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-skew", type=float, default=30.0, metavar="SECONDS", help="accepted clock difference")
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m pixsim_hooks.serve <module[:attr]> --secret-env NAME [--host H] [--port P]``."""
    import uvicorn

    parser = _arguments()
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        parser.error(f"environment variable {args.secret_env} is not set (it must hold the plugin's secret)")
    app = serve_plugin(load_target(args.target), secret=secret, max_skew_s=args.max_skew)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)


if __name__ == "__main__":
    main()

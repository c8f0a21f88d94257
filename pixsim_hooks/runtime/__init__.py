"""``pixsim_hooks.runtime``: plugins out of process — in a sandboxed child, or behind signed HTTP.

What an operator installs (:class:`ProcessPlugin`, :class:`RemotePlugin`); the host's side of such a plugin
(:class:`IsolatedPlugin`: handshake, batched calls, capability requests, restarts, over one :class:`Transport`,
started by :func:`start_isolated`, the one place a transport is chosen; a sandboxed plugin's routers as
:class:`ForwardedRoutes`, which the web wing mounts); the sandbox (:func:`detect_sandbox`); the
wire protocol (``docs/plugin-protocol.md``), its value encoding (which the event log stores events in) and its
signatures; and the plugin's side: the child process
(``python -m pixsim_hooks.runtime._child``), the runner that calls the plugin's own hookimpls, and
:func:`serve_plugin`, which serves a plugin over HTTP.

Imports only the plugin wing (and hookspecs, pluggy, pydantic, structlog). The child, the runner and the remote
server never import the host, telemetry or OpenTelemetry, and FastAPI only for a plugin that serves routes
(``_plugin_routes``; import-linter contracts). httpx and Starlette are imported only where a remote transport or
server is made, so a plugin's child process never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixsim_hooks.runtime._descriptors import ProcessPlugin, RemotePlugin
from pixsim_hooks.runtime._isolated import ForwardedRoutes, IsolatedPlugin, RestartPolicy, State, Transport
from pixsim_hooks.runtime._protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    ROUTE_CONTEXT_KEY,
    OversizedMessage,
    decode_value,
    encode_value,
)
from pixsim_hooks.runtime._results import RouteAnswer, RouteShape
from pixsim_hooks.runtime._runner import ISOLATED_HOOKS, REGISTER_MEMBERS, ROUTE_HOOKS
from pixsim_hooks.runtime._sandbox import SandboxKind, detect_sandbox, unconfinable_reason
from pixsim_hooks.runtime._signing import REQUEST_ID_HEADER, SESSION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from pixsim_hooks.runtime._start import RuntimeLimits, Started, start_isolated

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "ForwardedRoutes",
    "ISOLATED_HOOKS",
    "IsolatedPlugin",
    "MAX_MESSAGE_BYTES",
    "OversizedMessage",
    "PROTOCOL_VERSION",
    "ProcessPlugin",
    "REGISTER_MEMBERS",
    "REQUEST_ID_HEADER",
    "ROUTE_CONTEXT_KEY",
    "ROUTE_HOOKS",
    "RemotePlugin",
    "RestartPolicy",
    "RouteAnswer",
    "RouteShape",
    "RuntimeLimits",
    "SESSION_HEADER",
    "SIGNATURE_HEADER",
    "SandboxKind",
    "Started",
    "State",
    "TIMESTAMP_HEADER",
    "Transport",
    "decode_value",
    "detect_sandbox",
    "encode_value",
    "serve_plugin",
    "start_isolated",
    "unconfinable_reason",
]


def serve_plugin(plugin: object, *, secret: str | bytes, **options: Any) -> Starlette:
    """An ASGI app serving ``plugin`` to PixSim hosts over signed HTTP (see
    :func:`pixsim_hooks.runtime._remote_server.serve_plugin` for the options and what the server checks)."""
    # Imported here, not at the top: Starlette is a third of a plugin child's start-up, and the child never serves.
    from pixsim_hooks.runtime._remote_server import serve_plugin as serve

    return serve(plugin, secret=secret, **options)

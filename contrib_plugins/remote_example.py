"""Remote weather: the :mod:`contrib_plugins.weather` plugin, unchanged, served over HTTP as a ``kind: remote`` plugin.

The plugin author's side runs the weather module behind a signed HTTP endpoint (one process per endpoint)::

    export PIXSIM_WEATHER_REMOTE_SECRET=$(python -c "import secrets; print(secrets.token_hex(32))")
    uvicorn --factory contrib_plugins.remote_example:create_app --port 8765
    # or, for any plugin module:
    python -m pixsim_hooks.serve contrib_plugins.weather --secret-env PIXSIM_WEATHER_REMOTE_SECRET --port 8765

The operator's side installs :data:`descriptor`: the operator's copy of the manifest, with the endpoint
(``PIXSIM_WEATHER_REMOTE_URL``, default ``http://127.0.0.1:8765/``) and the name of the setting that holds the
same secret (``PIXSIM_WEATHER_REMOTE_SECRET``, set in the host's environment too). That configuration is the
plugin's identity: the endpoint must answer as ``weather``, and gets only the permissions listed here::

    host = create_host(settings, plugins=[remote_example.descriptor])

or as an entry point whose object is the descriptor::

    [project.entry-points."pixsim_hooks.plugins"]
    weather = "contrib_plugins.remote_example:descriptor"

It takes the id ``weather``: install it *instead of* the in-process ``contrib_plugins.weather`` (when both are
found, the one found first loads — explicit ``plugins=[...]`` before entry points — and the other is refused as
a duplicate id). Conditions it answers behave as in-process; a slow, failing or unreachable remote makes
``is_raining`` fall back to False and counts against its circuit breaker.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from contrib_plugins import weather
from pixsim_hooks import PluginManifest
from pixsim_hooks.runtime import RemotePlugin, serve_plugin

__all__ = ["DEFAULT_URL", "SECRET_SETTING", "URL_SETTING", "create_app", "descriptor", "manifest"]

SECRET_SETTING = "PIXSIM_WEATHER_REMOTE_SECRET"
URL_SETTING = "PIXSIM_WEATHER_REMOTE_URL"
DEFAULT_URL = "http://127.0.0.1:8765/"

manifest = PluginManifest.model_validate(
    {
        **weather.manifest.model_dump(),
        "kind": "remote",
        "isolation": "remote",
        "trust": "community",  # out of process, the host need not vouch for its code
        "remote": {"endpoint": os.environ.get(URL_SETTING, DEFAULT_URL), "secret_setting": SECRET_SETTING},
    }
)
descriptor = RemotePlugin(manifest)


def create_app() -> Starlette:
    """The ASGI app serving :mod:`contrib_plugins.weather` (``uvicorn --factory``); the secret from the environment."""
    secret = os.environ.get(SECRET_SETTING)
    if not secret:
        raise RuntimeError(f"set {SECRET_SETTING} to the secret the host's {SECRET_SETTING} holds")
    return serve_plugin(weather, secret=secret)

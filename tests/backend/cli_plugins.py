"""Plugins with manifest mistakes, installed for the `plugins check` tests through a dist-info the test writes."""

from __future__ import annotations

from typing import Any

from pixsim_hooks import PluginManifest, hookimpl


class Typo:
    manifest = PluginManifest(
        id="typo", name="Typo", version="1.0.0", trust="first_party", permissions=("sesion:read",)
    )


class Unpermitted:
    manifest = PluginManifest(id="unpermitted", name="Unpermitted", version="1.0.0", trust="first_party")

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        """Needs event:subscribe, which the manifest does not ask for."""


class Bracketed:
    manifest = {"id": "Not A Slug", "name": "Bracketed", "version": "1.0.0", "trust": "first_party"}


class Clean:
    manifest = PluginManifest(id="clean", name="Clean", version="1.0.0", trust="first_party", permissions=("log:emit",))


class Wanderer:
    """A community plugin that asks to run in the host's process, which no community plugin may."""

    manifest = PluginManifest(id="wanderer", name="Wanderer", version="1.0.0", trust="community")


class Wrapper:
    """Asks for a sandboxed child and provides middleware, which wraps the host's own requests: it cannot run there."""

    manifest = PluginManifest(
        id="wrapper",
        name="Wrapper",
        version="1.0.0",
        trust="community",
        isolation="process",
        permissions=("middleware:http",),
    )

    @hookimpl
    def provide_middleware(self, ctx: Any) -> Any:
        return lambda app: app

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

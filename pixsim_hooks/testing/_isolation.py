"""The three ways the same plugin code runs under test: in the host's process, in a sandboxed child, behind HTTP.

:class:`TierPlugins` turns the plugin objects under test into what the host is given for one tier, and owns what
that takes (the remote tier's servers and the environment variable holding their secret) until it is closed.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from pixsim_hooks.plugin import Isolation, PluginManifest, Trust, parse_manifest
from pixsim_hooks.runtime import ProcessPlugin, RemotePlugin, SandboxKind, detect_sandbox, serve_plugin
from pixsim_hooks.testing._servers import ServedApp
from pixsim_hooks.testing._tiers import Tier

__all__ = ["REMOTE_SECRET_SETTING", "TierPlugins", "manifest_of", "target_of", "tier_problem"]

REMOTE_SECRET_SETTING = "PIXSIM_TESTING_REMOTE_SECRET"
"""The environment variable the remote tier's manifests name for their HMAC secret (set while a harness runs)."""


def manifest_of(plugin: object) -> PluginManifest | None:
    """The plugin's manifest as the host would read it, or None when it has none the host would accept (a test of
    a broken manifest: the host quarantines it, and the harness does not stand in the way)."""
    try:
        declared: Any = getattr(plugin, "manifest", None)
        return parse_manifest(declared, source=repr(plugin))
    except Exception:  # ManifestError, or a manifest property that raises: either way the host refuses it
        return None


def target_of(plugin: object) -> str:
    """``module[:attr]`` naming an imported plugin object, for the child process to import it again."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    if isinstance(plugin, type):
        return f"{plugin.__module__}:{plugin.__qualname__}"
    module = __import__(type(plugin).__module__, fromlist=["_"])
    for name, value in vars(module).items():
        if value is plugin:
            return f"{module.__name__}:{name}"
    raise ValueError(
        f"the process tier runs a plugin by 'module:attr', and {plugin!r} is no module, class or module-level object"
    )


def tier_problem(tier: Tier, plugins: Iterable[object]) -> str | None:
    """Why this tier cannot run these plugins on this machine, in one line, or None."""
    if tier is Tier.PROCESS and detect_sandbox() != SandboxKind.BWRAP:
        return (
            "the process tier runs the plugin in a sandboxed child, which needs bubblewrap (bwrap), missing or not "
            "working on this machine: apt-get install bubblewrap (or select other tiers with --pixsim-tier)"
        )
    if tier is Tier.IN_PROCESS:
        for plugin in plugins:
            manifest = manifest_of(plugin)
            if manifest is not None and _never_in_process(manifest):
                return (
                    f"plugin {manifest.id!r} cannot run in the in_process tier: its manifest says trust "
                    f"{manifest.trust.value!r}, isolation {manifest.isolation.value!r}, which the host never runs in "
                    "its own process; restrict the test with @pytest.mark.pixsim_tiers('process', 'remote')"
                )
    return None


def _never_in_process(manifest: PluginManifest) -> bool:
    return manifest.trust is Trust.COMMUNITY or manifest.isolation is not Isolation.IN_PROCESS


def _chained_site_directories() -> tuple[str, ...]:
    """Site-packages directories on this interpreter's path outside its own prefixes.

    The sandbox shows the child its interpreter's prefixes, the plugin's package and pixsim-hooks; the child
    processes the same site directories as the host, so in a venv whose site-packages chains another's (a ``.pth``
    running ``site.addsitedir``: a throwaway venv over a development one, as the scaffold test makes) the chained
    directory must be visible too, or the child finds neither pixsim-hooks nor its dependencies. Elsewhere this is
    empty: a venv's own site-packages lie within its prefix."""
    prefixes = {sys.prefix, sys.base_prefix}
    return tuple(
        sorted(
            {
                entry
                for entry in sys.path
                if Path(entry).name in ("site-packages", "dist-packages")
                and not any(entry.startswith(prefix + os.sep) for prefix in prefixes)
                and Path(entry).is_dir()
            }
        )
    )


class TierPlugins:
    """The plugins under test as one tier runs them: :meth:`wrap` gives what the host is given; :meth:`close`
    stops the remote tier's servers and restores the environment."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self._servers: list[ServedApp] = []
        self._secret = secrets.token_hex(16)
        self._previous: str | None = None
        if tier is Tier.REMOTE:  # the host reads the secret from the environment when it connects
            self._previous = os.environ.get(REMOTE_SECRET_SETTING)
            os.environ[REMOTE_SECRET_SETTING] = self._secret

    def wrap(self, plugins: Iterable[object]) -> list[object]:
        return [self._one(plugin) for plugin in plugins]

    def _one(self, plugin: object) -> object:
        if self.tier is Tier.IN_PROCESS:
            return plugin
        if self.tier is Tier.PROCESS:
            return ProcessPlugin(target_of(plugin), readable=_chained_site_directories())
        manifest = manifest_of(plugin)
        if manifest is None:
            return plugin  # nothing to serve it as: the host quarantines it for its manifest, as in-process
        served = ServedApp(serve_plugin(plugin, secret=self._secret))
        self._servers.append(served)
        remote = {"endpoint": served.url, "secret_setting": REMOTE_SECRET_SETTING, "timeout_ms": 2000}
        return RemotePlugin(manifest.model_dump() | {"kind": "remote", "isolation": "remote", "remote": remote})

    def close(self) -> None:
        for served in self._servers:
            served.stop()
        self._servers.clear()
        if self.tier is Tier.REMOTE:
            if self._previous is None:
                os.environ.pop(REMOTE_SECRET_SETTING, None)
            else:
                os.environ[REMOTE_SECRET_SETTING] = self._previous

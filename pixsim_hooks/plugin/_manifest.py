"""The plugin manifest: who a plugin is, what it asks for, and how it must be run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pixsim_hooks.plugin._exceptions import ManifestError

__all__ = [
    "CORE_PLUGIN_ID",
    "PLUGIN_ID_PATTERN",
    "Isolation",
    "PluginKind",
    "PluginManifest",
    "ProcessRuntime",
    "RemoteRuntime",
    "Trust",
    "parse_manifest",
]

CORE_PLUGIN_ID = "core"
PLUGIN_ID_PATTERN = r"^[a-z][a-z0-9_-]{1,62}$"
"""What a plugin id looks like: a slug of 2 to 63 characters (its namespace, its URL prefix)."""
"""The namespace of PixSim's built-in behavior; no plugin may claim it."""

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class PluginKind(StrEnum):
    ROUTE = "route"
    FEATURE = "feature"
    EVENT = "event"
    MIDDLEWARE = "middleware"
    REMOTE = "remote"


class Trust(StrEnum):
    """How far the operator trusts the plugin's code. Community code is never run in the host's process."""

    FIRST_PARTY = "first_party"
    PARTNER = "partner"
    COMMUNITY = "community"


class Isolation(StrEnum):
    IN_PROCESS = "in_process"
    PROCESS = "process"
    REMOTE = "remote"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProcessRuntime(_Frozen):
    """Limits of the child process an ``isolation: process`` plugin runs in."""

    memory_mb: int = Field(default=512, gt=0)
    cpu_seconds: int = Field(
        default=3600,
        gt=0,
        description="CPU seconds over the process lifetime (a backstop; per-call deadlines kill runaway calls).",
    )
    open_files: int = Field(default=64, gt=0)
    file_size_mb: int = Field(default=16, ge=0)

    def within(self, ceiling: ProcessRuntime) -> ProcessRuntime:
        """These limits, none above ``ceiling``'s: what a plugin may ask for itself (only the operator raises one)."""
        return ProcessRuntime(
            memory_mb=min(self.memory_mb, ceiling.memory_mb),
            cpu_seconds=min(self.cpu_seconds, ceiling.cpu_seconds),
            open_files=min(self.open_files, ceiling.open_files),
            file_size_mb=min(self.file_size_mb, ceiling.file_size_mb),
        )


class RemoteRuntime(_Frozen):
    """Where a ``kind: remote`` plugin is served and how its requests are signed."""

    endpoint: str = Field(pattern=r"^https?://")
    secret_setting: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]*$", description="Environment variable holding the plugin's HMAC secret."
    )
    timeout_ms: float = Field(default=500.0, gt=0)


class PluginManifest(_Frozen):
    """What a plugin declares about itself. Validated once at load; frozen; the host's copy is the approved one.

    ``permissions`` are :class:`~pixsim_hooks.Permission` values (or ``"<group>:*"``); unknown strings are warned
    about and grant nothing. ``trust: community`` requires ``isolation`` ``process`` or ``remote``.
    """

    id: str = Field(pattern=PLUGIN_ID_PATTERN, description="Slug; the plugin's namespace.")
    name: str = Field(min_length=1, max_length=120)
    version: str
    description: str = ""
    author: str = ""
    kind: PluginKind = PluginKind.FEATURE
    permissions: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    trust: Trust = Trust.COMMUNITY
    isolation: Isolation = Isolation.IN_PROCESS
    process: ProcessRuntime | None = None
    remote: RemoteRuntime | None = None

    @field_validator("id")
    @classmethod
    def _not_core(cls, value: str) -> str:
        if value == CORE_PLUGIN_ID:
            raise ValueError(f"'{CORE_PLUGIN_ID}' is reserved for PixSim's built-ins")
        return value

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        return value

    @model_validator(mode="after")
    def _runtime_matches_isolation(self) -> PluginManifest:
        remote = self.kind is PluginKind.REMOTE or self.isolation is Isolation.REMOTE
        if remote and (self.remote is None or self.isolation is not Isolation.REMOTE):
            raise ValueError("remote plugins need kind 'remote', isolation 'remote' and a 'remote' section")
        if self.remote is not None and not remote:
            raise ValueError("a 'remote' section needs kind 'remote' and isolation 'remote'")
        return self


def parse_manifest(data: PluginManifest | Mapping[str, Any], *, source: str) -> PluginManifest:
    """Validate manifest data; errors name the plugin (or, without a valid id, ``source``) and the field."""
    if isinstance(data, PluginManifest):
        data = data.model_dump()
    if not isinstance(data, Mapping):
        raise ManifestError(f"plugin {source!r}: manifest must be a PluginManifest or a mapping", plugin_id=source)
    try:
        return PluginManifest.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<manifest>"
        plugin = data.get("id") if isinstance(data.get("id"), str) else source
        raise ManifestError(
            f"plugin {plugin!r}: manifest field {field!r}: {first['msg']}", plugin_id=plugin, field=field
        ) from None

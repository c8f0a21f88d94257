"""Running a contrib plugin module in-process, in a sandboxed child process, or behind HTTP: the same module."""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import ModuleType, TracebackType
from typing import Any

import pytest

from pixsim_hooks.plugin import parse_manifest
from pixsim_hooks.runtime import ProcessPlugin, RemotePlugin, serve_plugin
from tests.servers import ServedApp

# Fixture params: the sandboxed child needs bubblewrap (tests/conftest.py fails it clearly where that is missing).
MODES = ("in_process", pytest.param("process", marks=pytest.mark.needs("bubblewrap")), "remote")
SECRET_SETTING = "PIXSIM_TEST_CONTRIB_REMOTE_SECRET"


class Isolation:
    """One way of running plugin modules; ``wrap`` turns modules into what the host is given. Remote plugins are
    served by a real uvicorn server each (on a free local port), stopped when the block ends."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._servers: list[ServedApp] = []
        self._secret = os.urandom(16).hex()

    def wrap(self, modules: Iterable[object]) -> list[object]:
        return [self._one(module) for module in modules]

    def _one(self, module: object) -> object:
        assert isinstance(module, ModuleType)
        if self.mode == "in_process":
            return module
        if self.mode == "process":
            return ProcessPlugin(module.__name__)
        own = parse_manifest(module.manifest, source=module.__name__)
        url = self._serve(serve_plugin(module, secret=self._secret))
        remote = {"endpoint": url, "secret_setting": SECRET_SETTING, "timeout_ms": 2000}
        return RemotePlugin(own.model_dump() | {"kind": "remote", "isolation": "remote", "remote": remote})

    def _serve(self, app: Any) -> str:
        served = ServedApp(app)
        self._servers.append(served)
        return served.url

    def __enter__(self) -> Isolation:
        os.environ[SECRET_SETTING] = self._secret
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for served in self._servers:
            served.stop()
        os.environ.pop(SECRET_SETTING, None)

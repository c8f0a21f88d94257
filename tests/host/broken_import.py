"""A plugin module whose import fails, for the import-error quarantine test."""

from __future__ import annotations

import pixsim_hooks_no_such_module  # type: ignore[import-not-found]  # noqa: F401

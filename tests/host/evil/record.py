"""Where the evil modules record that they were imported, and what they saw (``tests.host.evil.*``)."""

from __future__ import annotations

import os

IMPORTED: dict[str, str | None] = {}


def imported(name: str) -> None:
    IMPORTED[name] = os.environ.get("PIXSIM_ADMIN_TOKEN")

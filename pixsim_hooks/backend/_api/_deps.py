"""Request dependencies and parameter types shared by the routes: the service on ``app.state``, the ``If-Match``
version, page bounds and row ids.

Every number a client sends is bounded and declared so in the OpenAPI schema: ids to 1 .. 2**53 - 1 (``MAX_JSON_ID``:
within the database's 64 bits, and exact in any JSON client), so one past the bound is a 422 naming the parameter,
never an overflow in the driver.
"""

from __future__ import annotations

import re
from typing import Annotated, cast

from fastapi import Depends, Header, Query, Request

from pixsim_hooks.backend._services import GameService
from pixsim_hooks.fastapi import MAX_JSON_ID, IdPath
from pixsim_hooks.plugin import StaleWriteError

__all__ = ["IF_MATCH_PATTERN", "MAX_JSON_ID", "ExpectedVersion", "IdPath", "Limit", "Offset", "Service"]

# What If-Match takes: ``*``, or one session version bare, quoted, or as a weak tag (``3``, ``"3"``, ``W/"3"``).
# ASCII digits only (``str.isdigit`` takes '²', which ``int`` refuses), at most 16 of them (2**53 - 1 has 16).
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"[0-9]{1,16}"|[0-9]{1,16})\s*$'
_VERSION = re.compile(r"[0-9]{1,16}")


def _service(request: Request) -> GameService:
    return cast(GameService, request.app.state.service)


def _expected_version(
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN,
            description='``*``, or a session ``version`` (``3``, ``"3"`` or ``W/"3"``): write only if the session '
            "is still at that version, else 409.",
            examples=['"3"'],
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if _VERSION.fullmatch(tag) is None:  # the pattern already held: a second look, not the first line of defence
        raise ValueError(f"If-Match {if_match!r} passed the header pattern but is no version")
    version = int(tag)
    if version > MAX_JSON_ID:  # 16 digits can pass 2**53 - 1: no session ever has that version, so it is stale
        raise StaleWriteError(f"If-Match version {version} is not the session's version")
    return version


Service = Annotated[GameService, Depends(_service)]
ExpectedVersion = Annotated[int | None, Depends(_expected_version)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_JSON_ID, description="Rows to skip.")]

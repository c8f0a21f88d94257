"""Request dependencies shared by the routes: the service on ``app.state`` and the ``If-Match`` version."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError

from pixsim_hooks.backend._services import GameService

__all__ = ["ExpectedVersion", "Limit", "Offset", "Service"]


def _service(request: Request) -> GameService:
    return cast(GameService, request.app.state.service)


def _expected_version(
    if_match: Annotated[
        str | None,
        Header(description='A session ``version`` (``3`` or ``"3"``): write only if still current, else 409.'),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "if-match"),
                    "msg": "must be a session version, e.g. 3",
                    "type": "value_error",
                }
            ]
        )
    return int(tag)


Service = Annotated[GameService, Depends(_service)]
ExpectedVersion = Annotated[int | None, Depends(_expected_version)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]

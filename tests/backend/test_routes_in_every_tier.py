"""A route plugin's routes answer the same in every tier: in the host's process, in a sandboxed child (forwarded
by the host) and behind HTTP (forwarded to the remote server), run through the test kit's ``pixsim`` fixture.
Expected statuses and problem types are written out here."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pixsim_hooks.testing import Harness
from tests.backend.sandboxed_routes import TrustedNotebook


@pytest.fixture
def pixsim_plugins() -> Sequence[object]:
    return [TrustedNotebook]


async def test_a_route_answers_with_the_plugins_own_context(pixsim: Harness) -> None:
    answer = await pixsim.client.get(pixsim.url("/whoami"))
    assert answer.status_code == 200
    assert answer.json()["plugin"] == "notebook"


async def test_a_world_scoped_route_reads_the_world_through_the_host(pixsim: Harness) -> None:
    world = await pixsim.world()
    answer = await pixsim.client.get(pixsim.url(f"/worlds/{world.id}/name"))
    assert (answer.status_code, answer.json()) == (200, {"name": world.name})


async def test_a_denied_capability_is_a_403_and_an_exception_a_502(pixsim: Harness) -> None:
    denied = await pixsim.client.get(pixsim.url("/generations/1"))
    assert denied.status_code == 403
    assert denied.json()["permission"] == "generation:submit"
    failed = await pixsim.client.get(pixsim.url("/fails"))
    assert failed.status_code == 502
    assert failed.json()["type"] == "urn:pixsim:problem:plugin-error"
    assert [f.where for f in pixsim.failures()][-1] == "route GET /api/v1/plugins/notebook/fails"


async def test_an_http_error_and_a_bad_body_are_the_same_problems_in_every_tier(pixsim: Harness) -> None:
    teapot = await pixsim.client.get(pixsim.url("/teapot"))
    assert (teapot.status_code, teapot.json()["detail"]) == (418, "short and stout")
    refused = await pixsim.client.post(pixsim.url("/sessions/1/note"), json={"text": ""})
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "text"]]

"""Gossip, the contrib plugin installed to run sandboxed: through its entry point (never imported by the host), in a
child process, counting interactions through capability requests, with no count lost to concurrent interactions."""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from pixsim_hooks.backend import create_app
from pixsim_hooks.host import ISOLATED_ENTRY_POINT_GROUP, PluginState, Settings
from tests.contrib_plugins.conftest import created, serve

MODULE = "contrib_plugins.gossip"
pytestmark = pytest.mark.needs("bubblewrap")  # gossip runs in a sandboxed child


@pytest.fixture
def app(database_url: str) -> FastAPI:
    """The backend with gossip installed as pyproject.toml installs it (the isolated entry-point group)."""
    [installed] = [
        ep for ep in importlib.metadata.entry_points(group=ISOLATED_ENTRY_POINT_GROUP) if ep.name == "gossip"
    ]
    return create_app(Settings(database_url=database_url), entry_points=[installed])


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(app):
        yield client


async def test_gossip_is_installed_to_run_sandboxed_and_the_host_never_imports_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    host = app.state.host
    assert host.plugin("gossip").state is PluginState.ENABLED
    assert host.runs_as("gossip").startswith("process (")
    assert MODULE not in sys.modules


async def test_gossip_counts_each_interaction_per_npc_and_loses_none_to_concurrency(client: httpx.AsyncClient) -> None:
    world = await created(client, "/worlds", {"name": "Harbor", "meta": {}})
    ana = await created(client, f"/worlds/{world['id']}/npcs", {"name": "Ana", "meta": {}})
    bo = await created(client, f"/worlds/{world['id']}/npcs", {"name": "Bo", "meta": {}})
    session = await created(client, "/sessions", {"world_id": world["id"]})
    url = f"/sessions/{session['id']}/interactions"
    talks = [ana["id"]] * 6 + [bo["id"]] * 4
    answers = await asyncio.gather(*(client.post(url, json={"npc_id": n, "interaction": "talk"}) for n in talks))
    assert {a.status_code for a in answers} == {200}
    flags = (await client.get(f"/sessions/{session['id']}")).json()["flags"]
    assert flags["plugin:gossip:heard"] == {f"npc:{ana['id']}": 6, f"npc:{bo['id']}": 4}

"""``/api/v1/admin/events`` on a backend without Redis: events are delivered inline, so there are no dead letters;
the routes still check the token, the plugin and the entry id. With Redis: ``tests/backend/events/test_delivery.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pixsim_hooks import PluginManifest, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings

TOKEN = "events-s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


class Listener:
    manifest = PluginManifest(
        id="listener", name="Listener", version="1.0.0", trust="first_party", permissions=("event:subscribe",)
    )

    @hookimpl
    def on_session_created(self, ctx: Any, event: Any) -> None:
        return None


class Quiet:
    manifest = PluginManifest(id="quiet", name="Quiet", version="1.0.0", trust="first_party")


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        Settings(database_url=database_url, admin_token=TOKEN), plugins=[Listener(), Quiet()], entry_points=[]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1/admin") as client:
            yield client


async def test_without_redis_events_are_inline_and_the_plugins_with_handlers_are_listed(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/events", headers=ADMIN)

    assert answer.status_code == 200
    assert answer.json() == {"delivery": "inline", "plugins": [{"plugin_id": "listener", "dead_letters": 0}]}


async def test_without_redis_a_plugin_has_no_dead_letters_and_none_can_be_redriven(client: httpx.AsyncClient) -> None:
    assert (await client.get("/events/dead-letters/listener", headers=ADMIN)).json() == []

    answer = await client.post("/events/dead-letters/listener/1-0/redrive", headers=ADMIN)
    assert answer.status_code == 409
    assert "inline" in answer.json()["detail"]


@pytest.mark.parametrize("plugin", ["quiet", "nobody"])
async def test_a_plugin_that_handles_no_event_has_no_dead_letters_to_ask_for(
    client: httpx.AsyncClient, plugin: str
) -> None:
    assert (await client.get(f"/events/dead-letters/{plugin}", headers=ADMIN)).status_code == 404
    assert (await client.post(f"/events/dead-letters/{plugin}/1-0/redrive", headers=ADMIN)).status_code == 404


@pytest.mark.parametrize("entry", ["1", "abc-1", "1-0-0", "99999999999999999999999-0"])
async def test_an_entry_id_that_is_not_a_stream_id_is_refused(client: httpx.AsyncClient, entry: str) -> None:
    assert (await client.post(f"/events/dead-letters/listener/{entry}/redrive", headers=ADMIN)).status_code == 422


@pytest.mark.parametrize(("method", "path"), [("GET", "/events"), ("GET", "/events/dead-letters/listener")])
async def test_the_event_routes_need_the_admin_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert (await client.request(method, path)).status_code == 401
    assert (await client.request(method, path, headers={"Authorization": "Bearer wrong"})).status_code == 401

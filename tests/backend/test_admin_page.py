"""The HTML admin page at /admin: token login into a signed session cookie, CSRF-checked forms, escaped content."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from pixsim_hooks import PluginManifest, SessionCreated, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.backend._api._admin_page import COOKIE
from pixsim_hooks.host import Settings

TOKEN = "page-s3cret"
XSS_REASON = "<script>alert('reason')</script>"
XSS_MESSAGE = "<img src=x onerror=alert('message')>"


def manifest(pid: str, *permissions: str, name: str | None = None) -> PluginManifest:
    return PluginManifest(id=pid, name=name or pid, version="2.3.4", trust="first_party", permissions=permissions)


class Greeter:
    """Fails on every new session, with a message that is HTML."""

    manifest = manifest("greeter", "event:subscribe", name="Greeter <b>bold</b>")

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        raise RuntimeError(XSS_MESSAGE)


class Broken:
    """Quarantined at load, with a reason that is HTML."""

    manifest = manifest("broken")

    @hookimpl
    def on_load(self, ctx: Any) -> None:
        raise RuntimeError(XSS_REASON)


class Quiet:
    manifest = manifest("quiet", "world:read")


@asynccontextmanager
async def page_client(database_url: str, admin_token: str | None = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, admin_token=admin_token)
    app = create_app(settings, plugins=[Greeter(), Broken(), Quiet()], entry_points=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(database_url) as client:
        yield client


async def log_in(client: httpx.AsyncClient) -> str:
    """Log in through the form; return the CSRF token the page's forms carry."""
    response = await client.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 303
    return csrf_of((await client.get("/admin")).text)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "the page has no form carrying a CSRF token"
    return match.group(1)


async def make_world(client: httpx.AsyncClient, meta: dict[str, Any] | None = None) -> int:
    response = await client.post("/api/v1/worlds", json={"name": "Harbor <town>", "meta": meta or {}})
    assert response.status_code == 201
    world_id: int = response.json()["id"]
    return world_id


async def world_meta(client: httpx.AsyncClient, world_id: int) -> dict[str, Any]:
    meta: dict[str, Any] = (await client.get(f"/api/v1/worlds/{world_id}")).json()["meta"]
    return meta


def world_row(page: str, world_id: int, plugin_id: str) -> str:
    table = re.search(rf'<table data-world="{world_id}">(.*?)</table>', page, re.S)
    assert table
    row = re.search(rf'<tr data-plugin="{plugin_id}">(.*?)</tr>', table.group(1), re.S)
    assert row
    return row.group(1)


# -- auth -----------------------------------------------------------------------------------------------------------
async def test_the_page_and_its_login_are_404_when_no_admin_token_is_configured(database_url: str) -> None:
    async with page_client(database_url, admin_token=None) as client:
        assert (await client.get("/admin")).status_code == 404
        assert (await client.post("/admin/login", data={"token": ""})).status_code == 404
        assert (await client.post("/admin/plugins/quiet/disable", data={})).status_code == 404


async def test_without_a_session_the_page_is_a_login_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'action="/admin/login"' in response.text and 'name="token"' in response.text
    assert "quiet" not in response.text


async def test_the_right_token_sets_an_httponly_strict_session_cookie_and_redirects_to_the_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/admin/login", data={"token": TOKEN})

    assert (response.status_code, response.headers["location"]) == (303, "/admin")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert TOKEN not in cookie  # the cookie is a signed session, not the token
    page = await client.get("/admin")
    assert page.status_code == 200 and 'id="plugin-table"' in page.text


async def test_a_wrong_token_is_a_401_page_and_sets_no_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/login", data={"token": "guess"})

    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert 'action="/admin/login"' in response.text


async def test_a_session_signed_with_another_token_is_not_a_session(database_url: str) -> None:
    async with page_client(database_url, admin_token="old-token") as old:
        await old.post("/admin/login", data={"token": "old-token"})
        stale = old.cookies[COOKIE]
    async with page_client(database_url) as client:
        client.cookies.set(COOKIE, stale, domain="test", path="/admin")
        response = await client.get("/admin")

    assert 'action="/admin/login"' in response.text and 'id="plugin-table"' not in response.text


async def test_logging_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await log_in(client)

    response = await client.post("/admin/logout")

    assert response.status_code == 303
    assert 'action="/admin/login"' in (await client.get("/admin")).text


async def test_the_page_forbids_scripts_framing_and_caching(client: httpx.AsyncClient) -> None:
    headers = (await client.get("/admin")).headers

    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


# -- what the page shows --------------------------------------------------------------------------------------------
async def test_the_page_lists_every_plugin_with_version_state_permissions_and_health(
    client: httpx.AsyncClient,
) -> None:
    world_id = await make_world(client)
    assert (await client.post("/api/v1/sessions", json={"world_id": world_id})).status_code == 201
    await log_in(client)

    page = (await client.get("/admin")).text

    assert re.search(r'<tr data-plugin="greeter">.*2\.3\.4.*class="state enabled">enabled<', page)
    assert re.search(r'<tr data-plugin="broken">.*class="state quarantined">quarantined<.*on_load failed', page)
    assert "<code>event:subscribe</code>" in page and "<code>world:read</code>" in page
    assert re.search(r"<code>on_session_created</code> · world \d+ · error · <code>RuntimeError</code>", page)
    assert "error: 1" in page


async def test_plugin_controlled_strings_are_rendered_escaped(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client)
    await client.post("/api/v1/sessions", json={"world_id": world_id})
    await log_in(client)

    page = (await client.get("/admin")).text

    assert "<script>" not in page and "<img" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in page  # the quarantine reason
    assert "&lt;img src=x onerror=alert(&#x27;message&#x27;)&gt;" in page  # the error message
    assert "Greeter &lt;b&gt;bold&lt;/b&gt;" in page and "Harbor &lt;town&gt;" in page


async def test_each_world_has_a_table_of_plugins_with_their_state_there(client: httpx.AsyncClient) -> None:
    all_of_them = await make_world(client)
    only_quiet = await make_world(client, {"behavior": {"enabledPlugins": ["quiet"]}})
    await log_in(client)

    page = (await client.get("/admin")).text

    assert 'class="world-state on">on<' in world_row(page, all_of_them, "greeter")
    assert 'class="world-state off">off<' in world_row(page, only_quiet, "greeter")
    assert 'class="world-state on">on<' in world_row(page, only_quiet, "quiet")


# -- actions --------------------------------------------------------------------------------------------------------
async def test_turning_a_plugin_off_for_a_world_writes_enabled_plugins(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client)
    csrf = await log_in(client)

    response = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data={"csrf": csrf, "enabled": "off"})

    assert (response.status_code, response.headers["location"]) == (303, f"/admin#world-{world_id}")
    # "every plugin" is made explicit (the JSON API's rule), then greeter taken out
    assert (await world_meta(client, world_id))["behavior"]["enabledPlugins"] == ["broken", "quiet"]
    assert 'class="world-state off">off<' in world_row((await client.get("/admin")).text, world_id, "greeter")


async def test_turning_a_plugin_back_on_for_a_world_lists_it_again(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client, {"behavior": {"enabledPlugins": []}})
    csrf = await log_in(client)

    await client.post(f"/admin/worlds/{world_id}/plugins/quiet", data={"csrf": csrf, "enabled": "on"})

    assert (await world_meta(client, world_id))["behavior"]["enabledPlugins"] == ["quiet"]


async def test_the_global_buttons_disable_and_enable_a_plugin(client: httpx.AsyncClient) -> None:
    csrf = await log_in(client)

    await client.post("/admin/plugins/quiet/disable", data={"csrf": csrf})
    disabled = (await client.get("/admin")).text
    await client.post("/admin/plugins/quiet/enable", data={"csrf": csrf})
    enabled = (await client.get("/admin")).text

    assert re.search(r'<tr data-plugin="quiet">.*?class="state disabled">disabled<', disabled, re.S)
    assert re.search(r'<tr data-plugin="quiet">.*?class="state enabled">enabled<', enabled, re.S)


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
async def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, csrf: str | None
) -> None:
    world_id = await make_world(client)
    await log_in(client)
    data = {"enabled": "off"} | ({"csrf": csrf} if csrf is not None else {})

    toggle = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data=data)
    disable = await client.post("/admin/plugins/quiet/disable", data=data)

    assert (toggle.status_code, disable.status_code) == (403, 403)
    assert "behavior" not in await world_meta(client, world_id)
    assert (await client.get("/api/v1/admin/plugins/quiet", headers={"Authorization": f"Bearer {TOKEN}"})).json()[
        "state"
    ] == "enabled"


async def test_a_csrf_token_is_good_only_for_the_session_it_was_rendered_for(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client)
    first = await log_in(client)
    second = await log_in(client)  # a new session (new cookie) on the same client

    refused = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data={"csrf": first, "enabled": "off"})
    accepted = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data={"csrf": second, "enabled": "off"})

    assert first != second
    assert (refused.status_code, accepted.status_code) == (403, 303)


async def test_an_action_without_a_session_is_401_and_changes_nothing(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client)

    response = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data={"csrf": "x", "enabled": "off"})

    assert response.status_code == 401
    assert "behavior" not in await world_meta(client, world_id)


async def test_errors_of_the_shared_admin_logic_come_back_as_escaped_html_pages(client: httpx.AsyncClient) -> None:
    csrf = await log_in(client)

    missing_world = await client.post("/admin/worlds/999/plugins/greeter", data={"csrf": csrf, "enabled": "off"})
    unknown_plugin = await client.post("/admin/plugins/%3Cnope%3E/enable", data={"csrf": csrf})
    bad_value = await client.post("/admin/worlds/999/plugins/greeter", data={"csrf": csrf, "enabled": "maybe"})

    assert (missing_world.status_code, unknown_plugin.status_code, bad_value.status_code) == (404, 404, 422)
    assert missing_world.headers["content-type"].startswith("text/html")
    assert "world 999 does not exist" in missing_world.text
    assert "&lt;nope&gt;" in unknown_plugin.text and "<nope>" not in unknown_plugin.text


def test_the_world_table_shows_each_plugins_circuit_breaker() -> None:
    from pixsim_hooks.backend._api._admin_page import _breaker_cells
    from pixsim_hooks.host import Breakers

    class HostLike:
        breakers = Breakers(threshold=1, window_s=60, cooldown_s=60)

    HostLike.breakers.record_failure("lantern", 3)
    assert _breaker_cells(HostLike(), "lantern", 3) == '<td class="breaker open">open (1 recent failures)</td>'  # type: ignore[arg-type]
    assert _breaker_cells(HostLike(), "lantern", 4) == '<td class="breaker closed">closed</td>'  # type: ignore[arg-type]

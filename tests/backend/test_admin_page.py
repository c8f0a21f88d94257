"""The HTML admin page at /admin: token login into a signed session cookie, CSRF-checked forms, escaped content."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from typing import Any

import httpx
import pytest

from pixsim_hooks import PluginManifest, SessionCreated, hookimpl
from pixsim_hooks.backend import create_app
from pixsim_hooks.backend._api._admin_page import COOKIE, SESSION_TTL
from pixsim_hooks.backend._api._admin_sessions import MemorySessions
from pixsim_hooks.host import Settings

TOKEN = "page-s3cret"
SAME_ORIGIN = {"Origin": "http://test"}
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
async def page_client(
    database_url: str, admin_token: str | None = TOKEN, sessions: MemorySessions | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, admin_token=admin_token)
    app = create_app(settings, plugins=[Greeter(), Broken(), Quiet()], entry_points=[])
    if sessions is not None:
        app.state.admin_sessions = sessions  # a store shared by replicas, or one on a test clock
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        # A browser sends Origin with every POST of a page's form; these requests are from the page's own forms.
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=SAME_ORIGIN) as client:
            client.app = app  # type: ignore[attr-defined]
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
        replaying(client, stale)
        response = await client.get("/admin")

    assert 'action="/admin/login"' in response.text and 'id="plugin-table"' not in response.text


async def test_logging_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await log_in(client)

    response = await client.post("/admin/logout")

    assert response.status_code == 303
    assert 'action="/admin/login"' in (await client.get("/admin")).text


def replaying(client: httpx.AsyncClient, cookie: str) -> None:
    """Put a captured session cookie back in the jar (what someone who copied it would send)."""
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie, domain="test.local", path="/admin")  # where httpx keeps host "test"


async def test_a_cookie_captured_before_logout_is_refused_after_it(client: httpx.AsyncClient) -> None:
    world_id = await make_world(client)
    csrf = await log_in(client)
    captured = client.cookies[COOKIE]
    replaying(client, captured)
    assert 'id="plugin-table"' in (await client.get("/admin")).text  # the replay itself works, until...
    assert (await client.post("/admin/logout")).status_code == 303

    replaying(client, captured)
    page = await client.get("/admin")
    action = await client.post(f"/admin/worlds/{world_id}/plugins/greeter", data={"csrf": csrf, "enabled": "off"})

    assert 'action="/admin/login"' in page.text and 'id="plugin-table"' not in page.text
    assert action.status_code == 401
    assert "behavior" not in await world_meta(client, world_id)


async def test_the_cookie_is_a_random_id_and_the_server_keeps_it_only_hashed(client: httpx.AsyncClient) -> None:
    await log_in(client)
    cookie = client.cookies[COOKIE]
    store = client.app.state.admin_sessions  # type: ignore[attr-defined]

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 32 random bytes, nothing signed, nothing of the token
    assert len(store) == 1 and cookie not in repr(vars(store))


async def test_logging_out_everywhere_ends_every_session(database_url: str) -> None:
    async with page_client(database_url) as client:
        csrf = await log_in(client)
        mine = client.cookies[COOKIE]
        elsewhere = await log_in_elsewhere(client)
        replaying(client, elsewhere)
        assert 'id="plugin-table"' in (await client.get("/admin")).text  # the other session is open
        replaying(client, mine)

        response = await client.post("/admin/logout-everywhere", data={"csrf": csrf})

        assert response.status_code == 303
        replaying(client, elsewhere)
        assert 'action="/admin/login"' in (await client.get("/admin")).text


async def log_in_elsewhere(client: httpx.AsyncClient) -> str:
    """A second session (another browser) on the same server; returns its cookie, leaving the client's own."""
    mine = client.cookies[COOKIE]
    client.cookies.clear()
    await log_in(client)
    other = client.cookies[COOKIE]
    replaying(client, mine)
    return other


async def test_a_session_ends_when_its_time_is_up(database_url: str) -> None:
    now = [1000.0]
    async with page_client(database_url, sessions=MemorySessions(clock=lambda: now[0])) as client:
        await log_in(client)
        now[0] += SESSION_TTL - 1
        still = await client.get("/admin")
        now[0] += 2
        ended = await client.get("/admin")

    assert 'id="plugin-table"' in still.text
    assert 'action="/admin/login"' in ended.text and 'id="plugin-table"' not in ended.text


async def test_a_shared_store_refuses_a_session_opened_under_another_token(database_url: str) -> None:
    shared = MemorySessions()
    async with page_client(database_url, admin_token="old-token", sessions=shared) as old:
        await old.post("/admin/login", data={"token": "old-token"})
        opened = old.cookies[COOKIE]
    async with page_client(database_url, admin_token="old-token", sessions=shared) as replica:
        replaying(replica, opened)
        same_token = await replica.get("/admin")  # another replica on the same store and token: still open
    async with page_client(database_url, sessions=shared) as client:
        replaying(client, opened)
        response = await client.get("/admin")

    assert 'id="plugin-table"' in same_token.text
    assert 'action="/admin/login"' in response.text and 'id="plugin-table"' not in response.text


# -- cross-site requests: Origin, else Referer, else refused ----------------------------------------------------------
async def post_as(client: httpx.AsyncClient, url: str, data: dict[str, str], **headers: str) -> httpx.Response:
    """POST with exactly these Origin / Referer headers (none of the client's default Origin)."""
    request = client.build_request("POST", url, data=data)
    del request.headers["origin"]
    request.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return await client.send(request)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://test"},  # same host, another scheme: another origin
        {"Origin": "http://test:8080"},
        {"Origin": "http://evil.example", "Referer": "http://test/admin"},  # Origin, when present, decides
        {"Referer": "http://evil.example/admin"},
        {},  # neither: fail closed
    ],
)
async def test_a_state_changing_request_from_elsewhere_is_403_and_changes_nothing(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    world_id = await make_world(client)
    csrf = await log_in(client)

    toggle = await post_as(
        client, f"/admin/worlds/{world_id}/plugins/greeter", {"csrf": csrf, "enabled": "off"}, **headers
    )
    disable = await post_as(client, "/admin/plugins/quiet/disable", {"csrf": csrf}, **headers)
    logout = await post_as(client, "/admin/logout", {}, **headers)

    assert (toggle.status_code, disable.status_code, logout.status_code) == (403, 403, 403)
    assert "behavior" not in await world_meta(client, world_id)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/api/v1/admin/plugins/quiet", headers=admin)).json()["state"] == "enabled"
    assert 'id="plugin-table"' in (await client.get("/admin")).text  # the forged logout ended nothing


async def test_a_login_from_elsewhere_is_403_and_opens_no_session(client: httpx.AsyncClient) -> None:
    response = await post_as(client, "/admin/login", {"token": TOKEN}, Origin="http://evil.example")

    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert len(client.app.state.admin_sessions) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("headers", [{"Origin": "http://test"}, {"Referer": "http://test/admin"}])
async def test_a_request_from_this_servers_page_by_origin_or_referer_works(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    world_id = await make_world(client)
    csrf = await log_in(client)

    response = await post_as(
        client, f"/admin/worlds/{world_id}/plugins/greeter", {"csrf": csrf, "enabled": "off"}, **headers
    )

    assert (response.status_code, response.headers["location"]) == (303, f"/admin#world-{world_id}")
    assert (await world_meta(client, world_id))["behavior"]["enabledPlugins"] == ["broken", "quiet"]


async def test_the_page_asks_the_browser_to_send_its_origin_on_its_own_forms(client: httpx.AsyncClient) -> None:
    # With "no-referrer" a browser posts the page's forms with "Origin: null", which the check above refuses.
    assert (await client.get("/admin")).headers["referrer-policy"] == "same-origin"


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


# -- events ---------------------------------------------------------------------------------------------------------
async def test_without_redis_the_page_says_events_are_delivered_inline(client: httpx.AsyncClient) -> None:
    await log_in(client)
    page = (await client.get("/admin")).text
    assert 'id="events"' in page and "Delivered inline" in page and 'id="dead-letters"' not in page


async def test_a_dead_letter_is_listed_escaped_and_its_button_redrives_it(database_url: str, redis_url: str) -> None:
    from pixsim_hooks.backend.events import EVENT_HOOKS, RedisEventLog

    settings = Settings(database_url=database_url, admin_token=TOKEN, redis_url=redis_url)
    app = create_app(settings, plugins=[Greeter(), Quiet()], entry_points=[])
    log = RedisEventLog(redis_url, hooks=EVENT_HOOKS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=SAME_ORIGIN) as client:
            await log_in(client)
            world = (await client.post("/api/v1/worlds", json={"name": "Harbor"})).json()
            await client.post("/api/v1/sessions", json={"world_id": world["id"]})  # appended, not delivered
            [entry] = await log.redis.xrange(log.stream(log.shard_of("session:1")))
            # What a worker does after the last failed attempt (tests/backend/events/test_worker.py covers that).
            await log.dead_letter(
                "greeter", log.stream(log.shard_of("session:1")), entry[0], entry[1]["e"], 5, XSS_MESSAGE
            )
            page = (await client.get("/admin")).text
            [dead] = await log.dead_letters("greeter")
            assert f'data-dead-letter="{dead.entry_id}"' in page and "greeter: 1" in page
            assert XSS_MESSAGE not in page and escape(XSS_MESSAGE) in page
            action = f"/admin/events/dead-letters/greeter/{dead.entry_id}/redrive"
            assert f'action="{action}"' in page

            answer = await client.post(action, data={"csrf": csrf_of(page)})

            assert answer.status_code == 303 and answer.headers["location"] == "/admin#events"
            assert await log.dead_letters("greeter") == []
            [(_, fields)] = await log.redis.xrange(log.redrive_stream("greeter"))
            assert fields["e"] == entry[1]["e"]  # back to the plugin, whole
            assert "No dead letters." in (await client.get("/admin")).text
            gone = await client.post(action, data={"csrf": csrf_of(page)})
            assert gone.status_code == 404
            bad = await client.post(
                "/admin/events/dead-letters/greeter/not-an-id/redrive", data={"csrf": csrf_of(page)}
            )
            assert bad.status_code == 404
    await log.close()

"""``/admin``: the operator's HTML page over the admin API — plugins, their health, global and per-world switches.

Server-rendered, no script, every interpolated value escaped (plugin ids, names, quarantine reasons and error
messages are plugin-controlled). The actions call the admin JSON API's own route functions, so the page and the
API cannot drift apart.

Auth: the same ``PIXSIM_ADMIN_TOKEN`` (unset = 404 here too). A browser cannot send a bearer header on a page load,
so ``POST /admin/login`` takes the token from a form and opens a session on the server (``app.state.admin_sessions``,
an :class:`~pixsim_hooks.backend._api._admin_sessions.AdminSessionStore`); the cookie (HttpOnly, SameSite=Strict,
path ``/admin``, Secure over https) carries only the session's random id. Logging out revokes the session on the
server, so a captured cookie is refused from then on; "log out everywhere" revokes them all. A session is bound to
the token it was opened under (changing the token ends every session) and lasts :data:`SESSION_TTL` seconds. The
token never reaches the cookie jar, and plugin code never sees the cookie: plugin middleware never runs on
``/admin``, and the cookie is taken out of every request a plugin route sees.

Cross-site requests: every state-changing request (every POST here: login, logout, the actions) must come from this
server's own pages. ``Origin`` is checked when present (``null`` or another origin → 403); without it, ``Referer``;
with neither, 403 (fail closed). The page sends ``Referrer-Policy: same-origin``, so the browser sends both on its
own forms (with ``no-referrer`` it would send ``Origin: null``). Behind a proxy that terminates TLS, forward the
scheme and host (uvicorn ``--proxy-headers``) so the server knows its own origin. SameSite=Strict keeps the cookie
off cross-site requests too, and every action form also carries ``HMAC(token, "csrf:" + session)``, which only a
page rendered for that session knows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pixsim_hooks.backend._api._admin import (
    Enablement,
    FailureOut,
    PluginOut,
    WorldPluginsOut,
    disable_plugin,
    enable_plugin,
    list_plugins,
    set_world_plugin,
    world_plugins,
)
from pixsim_hooks.backend._api._admin_events import DeadLetterOut, dead_letters, events, redrive
from pixsim_hooks.backend._api._admin_sessions import AdminSessionStore
from pixsim_hooks.fastapi import host_of
from pixsim_hooks.host import PluginHost
from pixsim_hooks.plugin import ConfigError

__all__ = ["COOKIE", "SESSION_TTL", "router"]

COOKIE = "pixsim_admin"
SESSION_TTL = 12 * 3600
_FORM_LIMIT = 8 * 1024  # the largest form here is a few hundred bytes; the login form is unauthenticated
_MAX_WORLDS = 200
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # a dead letter's stream entry id, as the admin API takes it
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser posts this page's own forms with "Origin: null"
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} form{display:inline;margin:0} ul{margin:0;padding-left:1.1rem}
.enabled,.on{color:#176b2c;font-weight:600} .quarantined,.error{color:#a11} .disabled,.loaded,.off{color:#777}
code{font-size:90%} .muted{color:#777}
"""

router = APIRouter(prefix="/admin", include_in_schema=False)
Action = Callable[[PluginHost, Mapping[str, str]], Awaitable[object]]


# -- routes ---------------------------------------------------------------------------------------------------------
@router.get("")
async def admin_page(request: Request) -> Response:
    token = _admin_token(request)
    if token is None:
        return _off()
    session = await _session(request, token)
    if session is None:
        return _login_page()
    return _page("PixSim admin", await _dashboard(request, host_of(request), _csrf(token, session)))


@router.post("/login")
async def login(request: Request) -> Response:
    token = _admin_token(request)
    if token is None:
        return _off()
    if not _from_this_site(request):
        return _cross_site()
    form = await _form(request)
    if form is None:
        return _error_page(413, "the form is too large")
    if not secrets.compare_digest(form.get("token", "").encode(), token.encode()):
        return _login_page("That is not the admin token.", status=401)
    store = _store(request)
    if previous := request.cookies.get(COOKIE):
        await store.revoke(previous)  # a new login never keeps an older session (or one planted in the jar) alive
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        COOKIE,
        await store.create(_binding(token), SESSION_TTL),
        max_age=SESSION_TTL,
        path="/admin",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    # No CSRF token: the worst a forged logout could do is ask the operator to log in again (and the origin check
    # refuses it anyway). The session ends on the server: the cookie, if someone kept a copy, opens nothing now.
    if not _from_this_site(request):
        return _cross_site()
    if session := request.cookies.get(COOKIE):
        await _store(request).revoke(session)
    return _logged_out()


@router.post("/logout-everywhere")
async def logout_everywhere(request: Request) -> Response:
    """End every admin session (a cookie may have been copied from another browser): needs a session and CSRF."""

    async def revoke_all(host: PluginHost, form: Mapping[str, str]) -> None:
        await _store(request).revoke_all()

    response = await _act(request, revoke_all, "plugins")
    return _logged_out() if response.status_code == 303 else response


def _logged_out() -> Response:
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


@router.post("/plugins/{plugin_id}/enable")
async def enable(plugin_id: str, request: Request) -> Response:
    return await _act(request, lambda host, _: enable_plugin(plugin_id, host), "plugins")


@router.post("/plugins/{plugin_id}/disable")
async def disable(plugin_id: str, request: Request) -> Response:
    return await _act(request, lambda host, _: disable_plugin(plugin_id, host), "plugins")


@router.post("/events/dead-letters/{plugin_id}/{entry_id}/redrive")
async def redrive_dead_letter(plugin_id: str, entry_id: str, request: Request) -> Response:
    async def give_back(host: PluginHost, form: Mapping[str, str]) -> DeadLetterOut:
        if _ENTRY_ID.fullmatch(entry_id) is None:
            raise HTTPException(404, f"no dead letter {entry_id[:40]!r}")
        return await redrive(plugin_id, entry_id, request, host)

    return await _act(request, give_back, "events")


@router.post("/worlds/{world_id}/plugins/{plugin_id}")
async def toggle_for_world(world_id: int, plugin_id: str, request: Request) -> Response:
    async def toggle(host: PluginHost, form: Mapping[str, str]) -> WorldPluginsOut:
        return await set_world_plugin(world_id, plugin_id, Enablement(enabled=_on_off(form)), host)

    return await _act(request, toggle, f"world-{world_id}")


# -- auth -----------------------------------------------------------------------------------------------------------
def _admin_token(request: Request) -> str | None:
    token: str | None = request.app.state.settings.admin_token
    return token or None


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def _store(request: Request) -> AdminSessionStore:
    store: AdminSessionStore = request.app.state.admin_sessions
    return store


def _binding(token: str) -> str:
    """What ties a session to the token it was opened under (the token itself never goes into the store)."""
    return _mac(token, "admin-session")


async def _session(request: Request, token: str) -> str | None:
    """The session id of the request's cookie while the server holds it open under the current token; else None."""
    session = request.cookies.get(COOKIE)
    if not session or not await _store(request).validate(session, _binding(token)):
        return None
    return session


def _csrf(token: str, session: str) -> str:
    return _mac(token, "csrf:" + session)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an ``Origin`` value; None for ``null`` or anything that is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def _from_this_site(request: Request) -> bool:
    """A state-changing request from this server's own pages: by ``Origin``, else ``Referer``; neither → no."""
    claimed = request.headers.get("origin")
    if claimed is None:
        claimed = request.headers.get("referer")
    own = _origin(str(request.url))
    return claimed is not None and own is not None and _origin(claimed) == own


def _cross_site() -> HTMLResponse:
    return _error_page(403, "this request did not come from this server's admin page (Origin / Referer)")


async def _act(request: Request, action: Action, anchor: str) -> Response:
    """Run one page action for a logged-in operator whose form carries the session's CSRF token."""
    token = _admin_token(request)
    if token is None:
        return _off()
    if not _from_this_site(request):
        return _cross_site()
    session = await _session(request, token)
    if session is None:
        return _login_page("Your session has ended; log in again.", status=401)
    form = await _form(request)
    if form is None:
        return _error_page(413, "the form is too large")
    if not secrets.compare_digest(form.get("csrf", "").encode(), _csrf(token, session).encode()):
        return _error_page(403, "the form's CSRF token is missing or wrong; reload the admin page and try again")
    try:
        await action(host_of(request), form)
    except HTTPException as exc:
        return _error_page(exc.status_code, str(exc.detail))
    except ConfigError as exc:
        return _error_page(422, str(exc))
    return RedirectResponse(f"/admin#{anchor}", status_code=303)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form (first value of each field), or None when the body is over the limit."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_LIMIT:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


def _on_off(form: Mapping[str, str]) -> bool:
    value = form.get("enabled")
    if value not in ("on", "off"):
        raise HTTPException(422, "the form field 'enabled' must be 'on' or 'off'")
    return value == "on"


# -- pages ----------------------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_CSS}</style></head><body>{body}</body></html>'
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _off() -> HTMLResponse:
    return _page("Not found", "<h1>Not found</h1><p>The admin page is off: set PIXSIM_ADMIN_TOKEN.</p>", 404)


def _login_page(error: str | None = None, *, status: int = 200) -> HTMLResponse:
    message = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    form = (
        '<form method="post" action="/admin/login"><label>Admin token '
        '<input type="password" name="token" autocomplete="current-password" required autofocus></label> '
        '<button type="submit">Log in</button></form>'
    )
    return _page("PixSim admin — log in", f"<h1>PixSim admin</h1>{message}{form}", status)


def _error_page(status: int, message: str) -> HTMLResponse:
    body = f'<h1>Error {status}</h1><p class="error" role="alert">{_e(message)}</p><p><a href="/admin">Back</a></p>'
    return _page(f"Error {status}", body, status)


def _url(*segments: object) -> str:
    return "/admin/" + "/".join(quote(str(segment), safe="") for segment in segments)


def _button(action: str, label: str, csrf: str, **fields: str) -> str:
    values = {"csrf": csrf, **fields}
    hidden = "".join(f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">' for name, value in values.items())
    return f'<form method="post" action="{_e(action)}">{hidden}<button type="submit">{_e(label)}</button></form>'


def _table(headers: Iterable[str], rows: Iterable[str], **attributes: str) -> str:
    attrs = "".join(f' {name.replace("_", "-")}="{_e(value)}"' for name, value in attributes.items())
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


async def _dashboard(request: Request, host: PluginHost, csrf: str) -> str:
    plugins = await list_plugins(host)
    worlds = await request.app.state.storage.worlds.list_worlds(limit=_MAX_WORLDS)
    sections = [await _world_section(host, world.id, world.name, plugins, csrf) for world in worlds]
    more = f'<p class="muted">Showing the first {_MAX_WORLDS} worlds.</p>' if len(worlds) == _MAX_WORLDS else ""
    logout = '<form method="post" action="/admin/logout"><button type="submit">Log out</button></form> ' + _button(
        "/admin/logout-everywhere", "Log out everywhere", csrf
    )
    return (
        f'<h1>PixSim admin</h1>{logout}<h2 id="plugins">Plugins</h2>{_plugins_table(plugins, csrf)}'
        f"{await _deployment_section(host)}{await _events_section(request, host, csrf)}"
        f"<h2>Worlds</h2>{''.join(sections) or '<p class=muted>No worlds yet.</p>'}{more}"
    )


async def _deployment_section(host: PluginHost) -> str:
    """The processes of the deployment and each one's view (none for a process alone: nothing is shared)."""
    seen = await host.control.deployment()
    if not seen.shared:
        return ""
    rows = []
    for replica in seen.replicas:
        alive = replica.alive
        off = [f"{_e(pid)}: {_e(state)}" for pid, state in sorted(replica.plugins.items()) if state != "enabled"]
        failing = [
            f'<span class="error">{_e(pid)}</span>: {f.window_failures} of {f.window_calls} calls '
            f"<span class=muted>({_e(f.last)})</span>"
            for pid, f in sorted(replica.failing.items())
        ]
        rows.append(
            f'<tr data-replica="{_e(replica.replica)}"><td><code>{_e(replica.replica)}</code>'
            f"{' (this page)' if replica.replica == seen.replica else ''}</td>"
            f'<td class="{"on" if alive else "off"}">{"alive" if alive else "not seen lately"}</td>'
            f"<td>{'<br>'.join(off) or 'every plugin enabled'}</td>"
            f"<td>{'<br>'.join(failing) or '—'}</td></tr>"
        )
    status = (
        '<p class="on">Shared through Redis.</p>'
        if seen.connected
        else f'<p class="error" role="alert">This process cannot reach Redis ({_e(seen.last_error)}); it serves with '
        "the plugin states it last knew.</p>"
    )
    headers = ("Process", "Reported", "Plugins not enabled", "Failing in its health window")
    table = _table(headers, rows, id="deployment-table")
    return f'<h2 id="deployment">Deployment</h2>{status}{table}'


async def _events_section(request: Request, host: PluginHost, csrf: str) -> str:
    """How events are delivered, and the dead letters of each plugin with a button that re-drives each."""
    try:
        seen = await events(request, host)
        found = [await dead_letters(p.plugin_id, request, host) if p.dead_letters else [] for p in seen.plugins]
    except HTTPException as exc:  # Redis cannot be reached: the rest of the page still shows
        return f'<h2 id="events">Events</h2><p class="error" role="alert">{_e(str(exc.detail))}</p>'
    if seen.delivery == "inline":
        return '<h2 id="events">Events</h2><p class=muted>Delivered inline, by the process that committed.</p>'
    rows = []
    for letters in found:
        for dead in letters:
            at = datetime.fromtimestamp(dead.failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            action = _url("events", "dead-letters", dead.plugin_id, dead.entry_id, "redrive")
            rows.append(
                f'<tr data-dead-letter="{_e(dead.entry_id)}"><td><code>{_e(dead.plugin_id)}</code></td>'
                f"<td>{_e(dead.event_type)}</td><td>{dead.world_id}</td><td>{dead.session_id or '—'}</td>"
                f"<td>{dead.attempts}</td><td><code>{_e(dead.error)}</code> <span class=muted>{at} UTC</span></td>"
                f"<td>{_button(action, 'Re-drive', csrf)}</td></tr>"
            )
    counts = ", ".join(f"{_e(p.plugin_id)}: {p.dead_letters}" for p in seen.plugins) or "no plugin handles events"
    headers = ("Plugin", "Event", "World", "Session", "Attempts", "Last error", "")
    table = _table(headers, rows, id="dead-letters") if rows else "<p class=muted>No dead letters.</p>"
    return (
        '<h2 id="events">Events</h2><p>Delivered through Redis by <code>pixsim-hooks worker</code> processes. '
        f"Dead letters ({counts}):</p>{table}"
    )


# -- the plugins table ----------------------------------------------------------------------------------------------
def _plugins_table(plugins: list[PluginOut], csrf: str) -> str:
    headers = ("Plugin", "Version", "Runs", "State", "Quarantine reason", "Permissions", "Failures", "Denials")
    rows = [_plugin_row(plugin, csrf) for plugin in plugins]
    return _table((*headers, "Recent errors", "Switch"), rows, id="plugin-table")


def _plugin_row(plugin: PluginOut, csrf: str) -> str:
    manifest: Mapping[str, Any] = plugin.manifest or {}
    cells = (
        f"<td><code>{_e(plugin.id)}</code><br><span class=muted>{_e(manifest.get('name', ''))}</span></td>",
        f"<td>{_e(manifest.get('version', '—'))}</td>",
        f"<td>{_e(plugin.runs)}</td>",
        f'<td class="state {_e(plugin.state.value)}">{_e(plugin.state.value)}</td>',
        f"<td>{_e(plugin.reason or '')}</td>",
        f"<td>{'<br>'.join(f'<code>{_e(p)}</code>' for p in plugin.permissions) or '—'}</td>",
        f"<td>{_failures(plugin.health.failures)}{_deployment_failures(plugin)}</td>",
        f"<td>{plugin.health.denials}</td>",
        f"<td>{_recent(plugin.health.recent)}</td>",
        f"<td>{_global_switch(plugin, csrf)}</td>",
    )
    return f'<tr data-plugin="{_e(plugin.id)}">{"".join(cells)}</tr>'


def _failures(failures: Mapping[str, int]) -> str:
    counts = [f"{_e(outcome)}: {count}" for outcome, count in sorted(failures.items()) if count]
    return "<br>".join(counts) or "none"


def _deployment_failures(plugin: PluginOut) -> str:
    """In a deployment: the failures within the health window in every process, and in which."""
    shared = plugin.health.deployment
    if shared is None:
        return ""
    where = ", ".join(f"{_e(replica)}: {count}" for replica, count in shared.by_replica.items())
    return (
        f'<br><span class="deployment-failures">deployment, last {plugin.health.window_s:g} s: '
        f"{shared.window_failures}{f' ({where})' if where else ''}</span>"
    )


def _recent(records: list[FailureOut]) -> str:
    items = [_failure_item(record) for record in reversed(records)]  # newest first
    return f"<ul>{''.join(items)}</ul>" if items else "—"


def _failure_item(record: FailureOut) -> str:
    at = datetime.fromtimestamp(record.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    world = f" · world {record.world_id}" if record.world_id is not None else ""
    return (
        f"<li><code>{_e(record.where)}</code>{world} · {_e(record.outcome)} · "
        f"<code>{_e(record.exc_type)}</code>: {_e(record.message)} <span class=muted>{at} UTC</span></li>"
    )


def _global_switch(plugin: PluginOut, csrf: str) -> str:
    if plugin.state.value == "enabled":
        return _button(_url("plugins", plugin.id, "disable"), "Disable", csrf)
    if plugin.manifest is None:
        return "—"  # refused before loading (no valid manifest): nothing to enable
    label = "Retry (enable)" if plugin.state.value == "quarantined" else "Enable"
    return _button(_url("plugins", plugin.id, "enable"), label, csrf)


# -- one table per world --------------------------------------------------------------------------------------------
async def _world_section(host: PluginHost, world_id: int, name: str, plugins: list[PluginOut], csrf: str) -> str:
    scope = await world_plugins(world_id, host)
    chosen = scope.enabled_plugins
    mode = "every plugin (no enabledPlugins)" if chosen is None else "only the plugins listed in enabledPlugins"
    rows = [_world_row(host, scope, plugin, csrf) for plugin in plugins if plugin.manifest is not None]
    headers = ("Plugin", "For this world", "Runs here", "Circuit breaker", "Switch")
    table = _table(headers, rows, data_world=str(world_id))
    return f'<h3 id="world-{world_id}">World {world_id}: {_e(name)}</h3><p class="muted">{mode}</p>{table}'


def _world_row(host: PluginHost, scope: WorldPluginsOut, plugin: PluginOut, csrf: str) -> str:
    listed = scope.enabled_plugins is None or plugin.id in scope.enabled_plugins
    runs = plugin.id in scope.effective
    word, flip = ("on", "off") if listed else ("off", "on")
    switch = _button(_url("worlds", scope.world_id, "plugins", plugin.id), f"Turn {flip}", csrf, enabled=flip)
    return (
        f'<tr data-plugin="{_e(plugin.id)}"><td><code>{_e(plugin.id)}</code></td>'
        f'<td class="world-state {word}">{word}</td><td>{"yes" if runs else "no"}</td>'
        f"{_breaker_cells(host, plugin.id, scope.world_id)}<td>{switch}</td></tr>"
    )


def _breaker_cells(host: PluginHost, plugin_id: str, world_id: int) -> str:
    """Circuit-breaker state of one plugin in one world, as the ``<td>`` cell of its world row."""
    view = next((v for v in host.breakers.states() if v.plugin_id == plugin_id and v.world_id == world_id), None)
    if view is None:
        return '<td class="breaker closed">closed</td>'
    detail = f"{view.state.value} ({view.recent_failures} recent failures)"
    return f'<td class="breaker {_e(view.state.value)}">{_e(detail)}</td>'

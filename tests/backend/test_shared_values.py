"""One event goes to every handler, and the request that caused it answers after they ran (red-team 32, 34).

A vandal handler tries every plain way to change the event it was given (the base classes' own methods included),
then ends with a ``BaseException``. The handler after it, the API response and the stored row all still read what
was committed; the request succeeds; the vandal's failure is on its record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pixsim_hooks import InteractionExecuted, PluginManifest, SessionCreated, hookimpl, thaw
from pixsim_hooks.backend import create_app
from pixsim_hooks.host import Settings

TOKEN = "s3cret-admin"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FLAGS = {"shared": {"count": 1, "names": ["a"]}}


def manifest(pid: str) -> PluginManifest:
    return PluginManifest(id=pid, name=pid, version="1.0.0", trust="first_party", permissions=("event:subscribe",))


def attempts_on(event: Any) -> dict[str, Callable[[], object]]:
    session = getattr(event, "session", None)
    found: dict[str, Callable[[], object]] = {
        "object.__setattr__(event, world_id)": lambda: object.__setattr__(event, "world_id", 0),
        "event.__init__ again": lambda: event.__init__(**{f.name: 0 for f in dataclasses.fields(event)}),
    }
    if session is not None:
        found |= {
            "dict.__setitem__(flags)": lambda: dict.__setitem__(session.flags, "shared", "vandal"),
            "dict.update(nested)": lambda: dict.update(session.flags["shared"], count=999),
            "flags.pop": lambda: session.flags.pop("shared"),
            "object.__setattr__(session, flags)": lambda: object.__setattr__(session, "flags", {"shared": 0}),
            "object.__setattr__(session, version)": lambda: object.__setattr__(session, "version", 99),
            "list.append(names)": lambda: list.append(session.flags["shared"]["names"], "vandal"),
        }
    if isinstance(event, InteractionExecuted):
        found["dict.__setitem__(payload)"] = lambda: dict.__setitem__(event.payload, "text", "vandal")
        found["object.__setattr__(payload)"] = lambda: object.__setattr__(event, "payload", {"text": "vandal"})
    return found


class Vandal:
    manifest = manifest("vandal")

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.not_refused: list[str] = []

    def vandalise(self, event: Any) -> None:
        self.order.append("vandal")
        for name, attempt in attempts_on(event).items():
            try:
                attempt()
            except (TypeError, AttributeError):
                continue
            self.not_refused.append(name)

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        self.vandalise(event)
        raise SystemExit(3)

    @hookimpl
    async def on_interaction_executed(self, ctx: Any, event: InteractionExecuted) -> None:
        self.vandalise(event)
        raise KeyboardInterrupt


class Witness:
    manifest = manifest("witness")

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.saw: list[dict[str, Any]] = []

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        self.order.append("witness")
        self.saw.append({"flags": thaw(event.session.flags), "version": event.session.version})

    @hookimpl
    def on_interaction_executed(self, ctx: Any, event: InteractionExecuted) -> None:
        self.order.append("witness")
        self.saw.append({"payload": thaw(event.payload), "world_id": event.world_id})


@pytest.fixture
def order() -> list[str]:
    return []


@pytest.fixture
def vandal(order: list[str]) -> Vandal:
    return Vandal(order)


@pytest.fixture
def witness(order: list[str]) -> Witness:
    return Witness(order)


@pytest.fixture
async def client(database_url: str, vandal: Vandal, witness: Witness) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, admin_token=TOKEN)
    app = create_app(settings, plugins=[witness, vandal], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_a_handler_changes_nothing_the_next_handler_the_response_or_the_store_sees(
    client: httpx.AsyncClient, vandal: Vandal, witness: Witness, order: list[str]
) -> None:
    world = (await client.post("/api/v1/worlds", json={"name": "Harbor"})).json()

    response = await client.post("/api/v1/sessions", json={"world_id": world["id"], "flags": FLAGS})

    assert response.status_code == 201, response.text
    assert order == ["vandal", "witness"], "the vandal must run first for this test to mean anything"
    assert vandal.not_refused == []
    assert response.json()["flags"] == FLAGS and response.json()["version"] == 1
    assert witness.saw == [{"flags": FLAGS, "version": 1}]
    stored = (await client.get(f"/api/v1/sessions/{response.json()['id']}")).json()
    assert stored["flags"] == FLAGS


async def test_an_interactions_payload_reaches_the_next_handler_as_sent(
    client: httpx.AsyncClient, vandal: Vandal, witness: Witness, order: list[str]
) -> None:
    world = (await client.post("/api/v1/worlds", json={"name": "Harbor"})).json()
    npc = (await client.post(f"/api/v1/worlds/{world['id']}/npcs", json={"name": "Ana"})).json()
    session = (await client.post("/api/v1/sessions", json={"world_id": world["id"], "flags": FLAGS})).json()
    order.clear()

    response = await client.post(
        f"/api/v1/sessions/{session['id']}/interactions",
        json={"npc_id": npc["id"], "interaction": "talk", "payload": {"text": "hello"}},
    )

    assert response.status_code in (200, 201), response.text
    assert order == ["vandal", "witness"]
    assert vandal.not_refused == []
    assert witness.saw[-1] == {"payload": {"text": "hello"}, "world_id": world["id"]}


async def test_a_base_exception_from_a_handler_is_that_plugins_failure_on_its_record(
    client: httpx.AsyncClient,
) -> None:
    world = (await client.post("/api/v1/worlds", json={"name": "Harbor"})).json()
    created = await client.post("/api/v1/sessions", json={"world_id": world["id"], "flags": FLAGS})
    assert created.status_code == 201

    health = (await client.get("/api/v1/admin/plugins/health", headers=ADMIN)).json()

    assert health["vandal"]["healthy"] is False
    assert health["witness"]["healthy"] is True
    detail = (await client.get("/api/v1/admin/plugins/vandal", headers=ADMIN)).json()
    assert detail["health"]["recent"][-1]["exc_type"] == "SystemExit"


class ByHand:
    """Goes past every plain way in: sets the session's flags through the slot descriptor behind the read-only
    property, called by hand (what in-process code can always do; docs/security.md)."""

    manifest = manifest("by-hand")

    @hookimpl
    def on_session_created(self, ctx: Any, event: SessionCreated) -> None:
        slot = type(event.session).__dict__["flags"].fget.__self__
        slot.__set__(event.session, {"forced": True})


async def test_even_a_handler_that_forces_its_event_does_not_change_the_api_response(database_url: str) -> None:
    """The event is the plugins' own copy of the committed snapshot: the response is built from the host's."""
    app = create_app(Settings(database_url=database_url), plugins=[ByHand()], entry_points=[])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        world = (await c.post("/api/v1/worlds", json={"name": "Harbor"})).json()
        response = await c.post("/api/v1/sessions", json={"world_id": world["id"], "flags": FLAGS})
        assert response.status_code == 201, response.text
        assert response.json()["flags"] == FLAGS

"""A throwaway host object (``Vault``) and the proxy a plugin named ``weather`` gets of it.

``Vault`` answers every operation a forwarding proxy would pass on, so each denial test is a real attempt: were the
operation forwarded, it would succeed and hand the plugin something of the vault.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from proxies import PermissionDenied, capability_proxy

PLUGIN = "weather"


class Secret:
    """What must never reach plugin code: a live DB session, another plugin's context, a credential."""

    def __repr__(self) -> str:
        return "<Secret session>"


class HostNotFound(LookupError):
    """A host error type that opts in to crossing to plugins; its field is keyword-only (no plain rebuild)."""

    __plugin_safe__ = True

    def __init__(self, message: str, *, world_id: int) -> None:
        super().__init__(message)
        self.world_id = world_id


class HostNamespaceViolation(PermissionDenied):
    """The host's own refinement of PermissionDenied."""


class HostValidationError(ValueError):
    """A ValueError subclass whose message echoes its input (like pydantic's): not passed through."""


SQL = "SELECT token FROM sessions WHERE secret='s3cr3t'"

FAILURES: dict[str, Callable[[], BaseException]] = {
    "runtime": lambda: RuntimeError(SQL),
    "caused": lambda: ConnectionError(SQL),
    "value": lambda: ValueError("bad value"),
    "type": lambda: TypeError("bad type"),
    "key": lambda: KeyError("missing"),
    "lookup": lambda: LookupError("not there"),
    "index": lambda: IndexError("out of range"),
    "validation": lambda: HostValidationError(SQL),
    "not_found": lambda: HostNotFound("world 9 not found", world_id=9),
    "denied": lambda: HostNamespaceViolation("weather", "session:write", "session", "plugin:other:x"),
    "keyboard": lambda: KeyboardInterrupt(),
}


class Vault:
    """A host capability facade holding a live session it must not hand out."""

    def __init__(self) -> None:
        self.secret_session = Secret()
        self.label = "vault"
        self.items = {"a": 1, "b": 2}

    def __repr__(self) -> str:
        return "<Vault holding secret_session>"

    def read(self, key: str) -> int:
        return self.items[key]

    def itself(self) -> Vault:
        return self

    def fail(self, kind: str) -> None:
        session = self.secret_session  # a host frame local the traceback must not carry to the plugin
        try:
            _ = session.token  # type: ignore[attr-defined]  # fails: the error below is raised while handling it
        except AttributeError as lookup_error:
            if kind == "caused":
                raise FAILURES[kind]() from lookup_error
            raise FAILURES[kind]()  # noqa: B904  # chained on purpose: its __context__ is a host error

    async def fetch(self, key: str) -> dict[str, object]:
        await asyncio.sleep(0)
        return {"key": key, "value": self.items[key]}

    async def fetch_fail(self, kind: str) -> None:
        session = self.secret_session
        await asyncio.sleep(0)
        assert session is not None
        raise FAILURES[kind]()

    async def slow(self, done: asyncio.Event) -> str:
        await asyncio.sleep(0.01)
        done.set()
        return "finished"

    # Every protocol a forwarding proxy would pass through, each answering with something of the vault.
    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: str) -> int:
        return self.items[key]

    def __setitem__(self, key: str, value: int) -> None:
        self.items[key] = value

    def __delitem__(self, key: str) -> None:
        del self.items[key]

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __iter__(self) -> Iterator[str]:
        yield from self.items  # a generator: a live host frame

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self.items))

    def __call__(self, *args: object) -> Secret:
        return self.secret_session

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def __aenter__(self) -> Vault:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def __int__(self) -> int:
        return 7

    def __index__(self) -> int:
        return 7

    def __float__(self) -> float:
        return 7.0

    def __complex__(self) -> complex:
        return 7j

    def __bytes__(self) -> bytes:
        return b"secret"

    def __format__(self, spec: str) -> str:
        return "secret"

    def __round__(self, ndigits: int | None = None) -> int:
        return 7

    __trunc__ = __floor__ = __ceil__ = __round__

    def _leak(self, *args: object) -> Secret:
        return self.secret_session

    __add__ = __radd__ = __iadd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = __truediv__ = _leak
    __floordiv__ = __mod__ = __divmod__ = __pow__ = __lshift__ = __rshift__ = __and__ = __or__ = __xor__ = _leak
    __neg__ = __pos__ = __abs__ = __invert__ = __lt__ = __le__ = __gt__ = __ge__ = _leak


GRANTS: dict[str, str | None] = {"label": "vault:read", "read": "vault:read", "itself": None, "fail": None}
ASYNC_GRANTS: dict[str, str | None] = {"fetch": "vault:read", "fetch_fail": None, "slow": None}
REQUIRES = {"secret_session": "vault:admin", "items": "vault:admin", "label": "vault:read", "read": "vault:read"}

MakeProxy = Callable[..., Any]


@pytest.fixture
def denials() -> list[PermissionDenied]:
    """Every denial the proxies built by ``make_proxy`` reported, in order."""
    return []


@pytest.fixture
def vault() -> Vault:
    return Vault()


@pytest.fixture
def make_proxy(vault: Vault, denials: list[PermissionDenied]) -> MakeProxy:
    """``make_proxy(**grants)`` → the ``vault`` capability of plugin ``weather`` with those extra grants."""

    def build(target: object = vault, **extra: str | None) -> Any:
        grants = {**GRANTS, **ASYNC_GRANTS, **extra}
        return capability_proxy(
            target, plugin_id=PLUGIN, capability="vault", grants=grants, requires=REQUIRES, on_denied=denials.append
        )

    return build


def host_objects(values: object) -> list[object]:
    """Anything in ``values`` (one level into containers, bound methods and closures) that belongs to the host."""
    found: list[object] = []
    pending = list(values) if isinstance(values, list | tuple | set | frozenset) else [values]
    for value in pending:
        host_method = isinstance(value, types.MethodType) and isinstance(value.__self__, Vault)
        if host_method or isinstance(value, Vault | Secret | types.CoroutineType | types.FrameType | asyncio.Task):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, Vault | Secret))
    return found


def plugin_call(fn: Callable[..., object], *args: object) -> BaseException:
    """What a plugin catches when it calls ``fn(*args)``; the traceback then starts at this (plugin) frame."""
    try:
        fn(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("the call did not raise")


def traceback_frames(exc: BaseException) -> Iterator[tuple[str, dict[str, Any]]]:
    """(function name, f_locals) of every frame of ``exc.__traceback__``."""
    tb = exc.__traceback__
    while tb is not None:
        yield tb.tb_frame.f_code.co_name, dict(tb.tb_frame.f_locals)
        tb = tb.tb_next

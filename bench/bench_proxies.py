"""Capability proxies against the plain object they wrap.

A proxy read is a dict lookup in a generated ``__getattribute__`` (target: at most 10x a plain attribute read); a
sealed call adds a Python frame, the sanitizing ``try`` and the coroutine check to a bound-method call; a denial
builds a ``PermissionDenied``, reports it (a no-op ``on_denied`` here) and raises it. Building a proxy happens once
per plugin and capability (target: about 100 us with a few granted methods).
"""

from __future__ import annotations

from bench._harness import Row, at_most, per_op_ns, print_rows, ratio_at_most
from proxies import PermissionDenied, capability_proxy


class _World:
    """A stand-in capability facade: one value and a few methods, like the host's."""

    def __init__(self) -> None:
        self.name = "Harbor"

    def get_world(self, world_id: int) -> int:
        return world_id

    def get_location(self, location_id: int) -> int:
        return location_id

    def list_locations(self) -> tuple[int, ...]:
        return ()

    def secret(self) -> None:
        return None


_GRANTS: dict[str, str | None] = dict.fromkeys(("name", "get_world", "get_location", "list_locations"), "world:read")


def _ignore(exc: PermissionDenied) -> None:
    return None


def _proxy(world: _World) -> object:
    return capability_proxy(
        world,
        plugin_id="bench",
        capability="world",
        grants=_GRANTS,
        requires={"secret": "world:admin"},
        on_denied=_ignore,
    )


def run() -> list[Row]:
    world = _World()
    proxy: object = _proxy(world)
    plain_read = per_op_ns(lambda: world.name)
    proxy_read = per_op_ns(lambda: proxy.name)  # type: ignore[attr-defined]
    bound, sealed = world.get_world, proxy.get_world  # type: ignore[attr-defined]
    direct_call = per_op_ns(lambda: bound(1))
    sealed_call = per_op_ns(lambda: sealed(1))

    def denied() -> None:
        try:  # noqa: SIM105  # contextlib.suppress would add its own cost to what is measured
            proxy.secret  # type: ignore[attr-defined]  # noqa: B018
        except PermissionDenied:
            pass

    denial = per_op_ns(denied, number=5_000)
    build = per_op_ns(lambda: _proxy(world), number=500)
    plain_build = per_op_ns(_World, number=500)
    return [
        Row("proxies.read", proxy_read, "plain attribute read", plain_read, ratio_at_most(10), "a granted value"),
        Row("proxies.sealed_call", sealed_call, "direct bound-method call", direct_call),
        Row("proxies.denial", denial, "plain attribute read", plain_read, note="no-op on_denied, caught"),
        Row("proxies.build", build, "building the facade itself", plain_build, at_most(100_000), "3 granted methods"),
    ]


if __name__ == "__main__":
    print_rows("proxies", run())

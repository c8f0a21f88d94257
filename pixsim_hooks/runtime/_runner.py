"""The plugin side of the out-of-process protocol: runs one plugin's own hookimpls, unchanged, behind a channel.

Used by the sandboxed child process (:mod:`pixsim_hooks.runtime._child`) and by the remote server (HTTP).
The plugin gets a ``ctx`` whose capability members are requests to the host: the host checks each against the
plugin's approved permissions, exactly as it checks an in-process plugin's proxy. Nothing here is trusted by the
host; this module only makes the plugin author's code run as it would in-process.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Callable
from typing import Any, Protocol

import pluggy

import hookspecs
from hookspecs import PROJECT_NAME
from pixsim_hooks.plugin import (
    MAX_CHILD_TRACEBACK,
    CapabilityError,
    EffectWriter,
    GenerationCapability,
    LogCapability,
    NotFoundError,
    NpcCapability,
    PermissionDenied,
    PluginManifest,
    ProtocolError,
    SessionCapability,
    StagedWrites,
    StaleWriteError,
    WorldCapability,
    freeze,
    parse_manifest,
    plugin_traceback,
)
from pixsim_hooks.runtime._protocol import (
    PROTOCOL_VERSION,
    Call,
    CapResult,
    ErrorInfo,
    Grant,
    Hello,
    Ping,
    Shutdown,
    decode_value,
    encode_value,
    error_info,
    parse_host_message,
)

__all__ = ["Channel", "ISOLATED_HOOKS", "PluginRunner", "REGISTER_MEMBERS", "ROUTE_HOOKS", "RouteServing"]

ISOLATED_HOOKS = frozenset(
    name for module in hookspecs.SPEC_MODULES if module is not hookspecs.routes for name in module.__all__
)
"""Hooks (besides the route hooks) every out-of-process plugin may implement, in a sandboxed child or behind HTTP."""
ROUTE_HOOKS = frozenset({"provide_router", "provide_admin_router"})
"""Route hooks an out-of-process plugin may implement too: the host forwards each request under its prefix to the
plugin's process (``_plugin_routes``). Middleware wraps the host's own requests, so it needs the host's process."""

_ASYNC_MEMBERS = {
    name: {m for m, fn in vars(cls).items() if inspect.iscoroutinefunction(fn)}
    for name, cls in (
        ("world", WorldCapability),
        ("session", SessionCapability),
        ("npc", NpcCapability),
        ("generation", GenerationCapability),
        ("log", LogCapability),
    )
}
REGISTER_MEMBERS = ("register_condition_evaluator", "register_effect_handler", "register_scoring_factor")
"""The ``ctx.behavior`` members whose function stays with the plugin: only the name crosses the channel."""
_RAISED: dict[str, type[Exception]] = {
    "NotFoundError": NotFoundError,
    "StaleWriteError": StaleWriteError,
    "ValueError": ValueError,
    "TypeError": TypeError,
}


class RouteServing(Protocol):
    """Serves the routers a plugin provides (``_plugin_routes.RouteServer``, given by whoever runs the runner)."""

    def mount(self, hook: str, router: Any) -> list[dict[str, Any]]: ...

    async def handle(self, hook: str, request: dict[str, Any], ctx: Any) -> dict[str, Any]: ...


class Channel(Protocol):
    """One blocking, ordered, bidirectional message channel (the plugin's end)."""

    def send(self, message: dict[str, Any]) -> None: ...

    def recv(self) -> dict[str, Any]: ...


class _Client:
    """Sends capability requests for the call being handled and waits for their answers."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.call_id = 0
        self.item: int | None = None
        self._ids = itertools.count(1)
        self.shared: dict[str, Any] = {}
        self.plugin_id = ""  # the id the host granted (set by the grant)

    def request(self, capability: str, member: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.call_id:
            raise RuntimeError("capabilities can only be used while the host is calling this plugin")
        req_id = next(self._ids)
        self.channel.send(
            {
                "type": "cap",
                "id": req_id,
                "call": self.call_id,
                "item": self.item,
                "capability": capability,
                "member": member,
                "args": encode_value(list(args)),
                "kwargs": encode_value(kwargs),
            }
        )
        reply = parse_host_message(self.channel.recv())
        if not isinstance(reply, CapResult) or reply.id != req_id:
            raise ProtocolError(f"expected the answer to capability request {req_id}")
        if reply.ok:
            return decode_value(reply.value, self.shared)
        raise _error_from(reply.error, self.plugin_id, capability, member)


def _error_from(info: ErrorInfo | None, plugin_id: str, capability: str, member: str) -> Exception:
    """The host's answer as the exception an in-process plugin would have seen (as near as a name allows)."""
    if info is None:
        return CapabilityError(capability, member, "Error", plugin_id)
    if info.type == "PermissionDenied":  # every denial crosses under this name (error_info)
        return PermissionDenied(plugin_id, info.permission, capability, member)
    known = _RAISED.get(info.type)
    if known is not None:
        return known(info.message)
    return CapabilityError(capability, member, info.type, plugin_id)


class _Capability:
    """``ctx.<capability>`` plugin-side: every public member is a request to the host."""

    def __init__(self, client: _Client, name: str) -> None:
        self._client = client
        self._name = name

    def __getattr__(self, member: str) -> Callable[..., Any]:
        if member.startswith("_"):
            raise AttributeError(member)
        client, name = self._client, self._name
        if member in _ASYNC_MEMBERS.get(name, ()):

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return client.request(name, member, args, kwargs)  # blocking is fine: one call at a time here

            return call_async
        return lambda *args, **kwargs: client.request(name, member, args, kwargs)


class _Behavior(_Capability):
    """``ctx.behavior`` plugin-side: the function stays here; the host registers a stand-in under the full id."""

    def __init__(self, client: _Client, registry: dict[str, tuple[str, Callable[..., Any]]]) -> None:
        super().__init__(client, "behavior")
        self._registry = registry

    def __getattr__(self, member: str) -> Callable[..., Any]:
        if member not in REGISTER_MEMBERS:
            return super().__getattr__(member)

        def register(name: str, fn: Callable[..., Any]) -> str:
            if not callable(fn):
                raise TypeError(f"{member} needs a callable")
            full = str(self._client.request("behavior", member, (name,), {}))
            self._registry[full] = (member, fn)
            return full

        return register


class _Context:
    """The ``ctx`` an out-of-process plugin receives (the host holds the real one and checks every request)."""

    def __init__(
        self, client: _Client, manifest: PluginManifest, permissions: frozenset[str], registry: dict[str, Any]
    ) -> None:
        self.plugin_id = manifest.id
        self.permissions = permissions
        self.manifest = manifest
        self.behavior = _Behavior(client, registry)
        for name in ("world", "session", "npc", "generation", "log"):
            setattr(self, name, _Capability(client, name))

    def __getattr__(self, member: str) -> Any:
        if member.startswith("__"):  # Python's own protocol lookups (copy, pickle...): the ordinary answer
            raise AttributeError(member)
        # What no context grants is a denial, as on the host's proxy (get_plugin_context asks another plugin's
        # context this way and must see the denial, not an AttributeError).
        raise PermissionDenied(self.plugin_id, None, "context", member[:64])


class PluginRunner:
    """Answers the host's messages for one plugin object (a module or an instance with hookimpls)."""

    def __init__(self, plugin: object, channel: Channel, routes: RouteServing | None = None) -> None:
        if isinstance(plugin, type):
            plugin = plugin()
        self.manifest = parse_manifest(getattr(plugin, "manifest", None) or {}, source=repr(plugin))
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        for module in hookspecs.SPEC_MODULES:
            self.pm.add_hookspecs(module)
        self.pm.register(plugin, name=self.manifest.id)
        self.hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or ())
        self.serves_routes = bool(ROUTE_HOOKS.intersection(self.hooks))  # then it needs ``routes`` set
        self.channel = channel
        self.client = _Client(channel)
        self.extensions: dict[str, tuple[str, Callable[..., Any]]] = {}
        self.ctx: _Context | None = None
        self.routes = routes
        self.loop = asyncio.new_event_loop()

    def serve(self) -> None:
        """Answer messages until the host says shutdown or the channel closes (EOFError)."""
        while True:
            message = parse_host_message(self.channel.recv())
            self.channel.send(self.answer(message))
            if isinstance(message, Shutdown):
                return

    def answer(self, message: Any) -> dict[str, Any]:
        if isinstance(message, Hello):
            manifest = self.manifest.model_dump(mode="json")
            return {
                "type": "welcome",
                "id": message.id,
                "protocol": PROTOCOL_VERSION,
                "manifest": manifest,
                "hooks": self.hooks,
            }
        if isinstance(message, Grant):
            self.client.plugin_id = message.plugin_id
            self.ctx = _Context(self.client, self.manifest, frozenset(message.permissions), self.extensions)
            return {"type": "ack", "id": message.id}
        if isinstance(message, Call):
            return self._call(message)
        if isinstance(message, Ping):
            return {"type": "pong", "id": message.id}
        if isinstance(message, Shutdown):
            return {"type": "bye", "id": message.id}
        raise ProtocolError(f"unexpected {type(message).__name__} outside a capability request")

    # -- calls --------------------------------------------------------------------------------------------------
    def _call(self, call: Call) -> dict[str, Any]:
        shared = self.client.shared
        # Frozen once here: a view that holds a shared value (the world's meta) then costs no copy per NPC.
        shared.update({key: freeze(decode_value(value, shared)) for key, value in call.shared.items()})
        target = self._target(call)
        if target is None:
            for key in call.drop:
                shared.pop(key, None)
            named = call.hook or call.extension or f"router from {call.route}"
            info = {"type": "LookupError", "message": f"this plugin has no {named!r}"}
            return {"type": "error", "id": call.id, "error": info}
        self.client.call_id = call.id
        try:
            results = [self._item(call, index, target, item) for index, item in enumerate(call.items)]
        finally:
            self.client.call_id, self.client.item = 0, None
            for key in call.drop:  # after the items: an item of this call may still refer to a dropped value
                shared.pop(key, None)
        return {"type": "result", "id": call.id, "results": results}

    def _target(self, call: Call) -> tuple[str, Callable[..., Any]] | None:
        if call.hook is not None:
            impls = getattr(self.pm.hook, call.hook, None)
            found = [i for i in impls.get_hookimpls()] if impls is not None else []
            if not found:
                return None
            spec_args = [a for a in impls.spec.argnames if a != "ctx"] if impls.spec else []  # type: ignore[union-attr]
            impl = found[0]
            name = call.hook

            def hook(*args: Any) -> Any:
                by_name = dict(zip(spec_args, args, strict=False))
                result = impl.function(*[self.ctx if a == "ctx" else by_name[a] for a in impl.argnames])
                if name in ROUTE_HOOKS and self.routes is not None:
                    return self.routes.mount(name, result)  # the router stays here: the host gets its shapes
                return result

            return "hook", hook
        if call.route is not None:
            routes, hook_name = self.routes, call.route
            if routes is None or hook_name not in ROUTE_HOOKS:
                return None
            return "route", lambda request: routes.handle(hook_name, request, self.ctx)
        return self.extensions.get(call.extension or "")

    def _item(self, call: Call, index: int, target: tuple[str, Callable[..., Any]], raw: list[Any]) -> dict[str, Any]:
        self.client.item = index
        kind, fn = target
        try:
            args = decode_value(raw, self.client.shared)
            if kind == "register_effect_handler":
                value = self._effect(fn, args, index)
            else:
                value = self._run(fn(*args) if kind in ("hook", "route") else fn(self.ctx, *args))
            return {"ok": True, "value": encode_value(value)}
        except Exception as exc:
            # The plugin's own frames, for the host's log (its author reads them there); capped to what the host takes.
            info = error_info(exc) | {"traceback": plugin_traceback(exc)[-MAX_CHILD_TRACEBACK:]}
            return {"ok": False, "error": info}

    def _effect(self, fn: Callable[..., Any], args: list[Any], index: int) -> dict[str, Any]:
        writer = EffectWriter(self.manifest.id, read=lambda key: self.client.request("effect", "get_flag", (key,), {}))
        try:
            self._run(fn(self.ctx, *args, writer))
        finally:
            staged: StagedWrites = writer.seal()
        return {"flags": dict(staged.flags), "relationships": {k: dict(v) for k, v in staged.relationships.items()}}

    def _run(self, result: Any) -> Any:
        if inspect.iscoroutine(result):
            return self.loop.run_until_complete(result)
        return result

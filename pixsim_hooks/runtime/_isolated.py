"""The host's side of an out-of-process plugin: handshake, batched calls, capability requests, restarts.

An :class:`IsolatedPlugin` stands in for the plugin in the host: it gives pluggy a stand-in object whose hookimpls
forward each call over the plugin's transport (a child process or an HTTP endpoint), so dispatch, isolation, world
scoping, breakers and deadlines work exactly as for in-process plugins. The plugin's ``ctx`` stays in the host:
every capability request the plugin sends is carried out on its host-side context, whose proxies check the same
permissions and record the same denials. Identity is the channel's: nothing in a message can name another plugin.

Calls are batched: a call made while the plugin is idle goes out at once, alone; the calls to one hook (or one
extension) made while a conversation is in flight queue up and go out as one message with one item each (a tick
that decides its NPCs concurrently sends one condition call for nearly all of them).

What the plugin answers is checked against the contract of what was asked (``_results``) inside the stand-ins,
before the host sees it: a value out of contract is that plugin's failure, recorded, with the caller's fallback.

A child process is ours: a missed deadline or a protocol violation (a frame nobody asked for included, reported by
its channel as it arrives) kills it, a crash restarts it after a backoff, a crash loop quarantines the plugin. A
remote is not: a failed exchange fails only its call (the breakers decide when to stop calling), and a remote that
lost the conversation (it restarted) is greeted again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import keyword
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import structlog

import hookspecs
from hookspecs import hookimpl
from pixsim_hooks.plugin import (
    CAPABILITIES,
    ConversationLost,
    HookDeadlineExceeded,
    PermissionDenied,
    PluginCrashed,
    PluginLoadError,
    PluginManifest,
    ProtocolError,
    RemotePluginError,
    parse_manifest,
)
from pixsim_hooks.runtime._protocol import (
    PROTOCOL_VERSION,
    Ack,
    CapRequest,
    Failure,
    Interner,
    ItemResult,
    OversizedMessage,
    Pong,
    Result,
    Welcome,
    decode_plain,
    encode_value,
    error_info,
    parse_plugin_message,
)
from pixsim_hooks.runtime._results import (
    INVALID_RESULT,
    RouteAnswer,
    RouteShape,
    check_effect,
    check_hook,
    check_route_answer,
    check_route_shapes,
    extension_check,
)
from pixsim_hooks.runtime._runner import ISOLATED_HOOKS, REGISTER_MEMBERS, ROUTE_HOOKS

__all__ = ["ForwardedRoutes", "IsolatedPlugin", "RestartPolicy", "Transport"]

_log = structlog.get_logger("pixsim_hooks.isolated")
_REPLAYED = ("on_load", "register_behavior", "on_enable")  # what a restarted child must go through again
_EVENT_HOOKS = frozenset(hookspecs.events.__all__)
START_TIMEOUT_S = 15.0  # a child's interpreter start and imports, until it says welcome
PER_ITEM_S = 0.001  # a batch's deadline grows by this per item beyond the first
EVENT_ATTEMPTS = 3  # a fire-and-forget event is tried this often (backoff 0.1 s, 0.2 s) before it is given up


class Transport(Protocol):
    """How one message reaches the plugin and its one answer comes back. ``restartable``: the process is ours (a
    sandboxed child), so it is killed and restarted on a broken call."""

    label: str
    restartable: bool

    async def open(self) -> None: ...

    async def exchange(self, message: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        """Send one message and return the plugin's one answer; TimeoutError at ``deadline`` (loop time)."""
        ...

    async def close(self, *, kill: bool) -> None: ...

    def describe(self) -> str:
        """How the plugin runs, for operators (``process (bubblewrap)``, ``remote http://...``)."""
        ...


class State(StrEnum):
    """Where an out-of-process plugin is in its life (``IsolatedPlugin.state``)::

    CLOSED -> OPENING -> READY          start: hello and welcome; grant (and after a restart, the replays)
    READY -> CRASHED -> OPENING         a missed deadline, a protocol break or a crash: killed, restarted later
    CRASHED -> GIVEN_UP                 a crash loop (until the operator enables the plugin again)
    READY -> LOST -> OPENING -> READY   a remote that restarted: greeted again before its next call
    any -> CLOSED                       stop
    """

    CLOSED = "closed"  # never started, or stopped
    OPENING = "opening"  # the transport is open; hello, grant (and after a restart, the replays) in progress
    READY = "ready"  # calls may go out
    LOST = "lost"  # a remote said it no longer knows this host: hello, grant and replays before its next call
    CRASHED = "crashed"  # killed; a restart is scheduled after a backoff
    GIVEN_UP = "given_up"  # a crash loop: it will not be restarted until the operator enables it again


_OPEN = frozenset({State.OPENING, State.READY, State.LOST})  # the transport is open and the conversation ours
_CALLABLE = frozenset({State.READY, State.LOST})


@dataclass(frozen=True, slots=True)
class ForwardedRoutes:
    """What a sandboxed plugin's ``provide_router`` / ``provide_admin_router`` gives the host: the shapes of its
    routes and how to forward one request to them. The web wing (``pixsim_hooks.fastapi``) mounts forwarding routes
    of these shapes in the plugin's room; ``forward(request, ctx)`` sends one request (``method``, ``path`` within
    the room, ``query``, ``headers``, base64 ``body``) to the child and returns its checked answer."""

    plugin_id: str
    hook: str
    shapes: tuple[RouteShape, ...]
    forward: Callable[[dict[str, Any], Any], Awaitable[RouteAnswer]]


@dataclass(slots=True)
class _Item:
    args: tuple[Any, ...]
    ctx: Any
    local: Any
    future: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class RestartPolicy:
    """Crash → restart after a backoff; ``limit`` crashes within ``window_s`` → the plugin is quarantined."""

    limit: int = 3
    window_s: float = 300.0
    backoff_s: float = 0.2
    max_backoff_s: float = 30.0
    crashes: collections.deque[float] = field(default_factory=collections.deque)

    def crashed(self, now: float) -> float | None:
        """Record a crash; the time a restart may be tried, or None when this is a crash loop."""
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.window_s:
            self.crashes.popleft()
        if len(self.crashes) >= self.limit:
            return None
        delay: float = min(self.max_backoff_s, self.backoff_s * 2 ** (len(self.crashes) - 1))
        return now + delay


class IsolatedPlugin:
    """One out-of-process plugin as the host drives it, over one :class:`Transport`."""

    def __init__(
        self,
        transport: Transport,
        *,
        deadline_s: float,
        on_denied: Callable[[PermissionDenied], None],
        on_crash_loop: Callable[[str], None] = lambda reason: None,
        interning: bool = True,
        policy: RestartPolicy | None = None,
        fire_and_forget_events: bool = False,
        event_queue: int = 1000,
        on_failure: Callable[[str, BaseException], None] = lambda where, exc: None,
    ) -> None:
        self.transport = transport
        self.label = transport.label
        self.deadline_s = deadline_s
        self.on_denied = on_denied
        self.on_crash_loop = on_crash_loop
        self.policy = policy or RestartPolicy()
        self.interner = Interner() if interning else None
        self.welcome: Welcome | None = None
        self.plugin_id = transport.label
        self.permissions: tuple[str, ...] = ()
        self.state = State.CLOSED
        self.gave_up: str | None = None  # why it will not be restarted (crash loop)
        self._ids = 0
        self._last_cap = 0
        self._lock = asyncio.Lock()
        self._pending: dict[tuple[str, str], list[_Item]] = {}
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._registered: dict[tuple[str, str], str] = {}
        self._replay: list[str] = []
        self._ctx: Any = None
        self._routes: dict[str, tuple[RouteShape, ...]] = {}  # by route hook, as the child described them
        self.on_failure = on_failure
        self._events: asyncio.Queue[tuple[str, tuple[Any, ...], Any]] | None = (
            asyncio.Queue(event_queue) if fire_and_forget_events else None
        )
        self._event_worker: asyncio.Task[None] | None = None
        watch = getattr(transport, "watch", None)
        if watch is not None:  # a child's channel reports, at once, a frame that arrives when nothing was asked
            watch(self._unasked)

    # -- handshake ----------------------------------------------------------------------------------------------
    async def start(self) -> Welcome:
        """Open the transport and say hello; the plugin's welcome (manifest, hooks) is checked here."""
        self.state, self._last_cap = State.OPENING, 0  # before opening: a failed start is a crash like any other
        await self.transport.open()
        if self.interner is not None:
            self.interner.reset()
        reply: Welcome = await self._timed(
            self._expect(Welcome, {"type": "hello", "protocol": PROTOCOL_VERSION}), START_TIMEOUT_S
        )
        unsupported = sorted(set(reply.hooks) - ISOLATED_HOOKS - ROUTE_HOOKS)
        if unsupported:
            raise PluginLoadError(f"plugin {self.label!r}: hooks {unsupported} cannot run out of process")
        self.welcome = reply
        return reply

    def manifest(self) -> PluginManifest:
        assert self.welcome is not None
        return parse_manifest(self.welcome.manifest, source=self.label)

    async def grant(self, plugin_id: str, permissions: Sequence[str]) -> None:
        """Tell the plugin who the host says it is and what it was granted."""
        self.plugin_id, self.permissions = plugin_id, tuple(permissions)
        message = {"type": "grant", "plugin_id": plugin_id, "permissions": list(permissions)}
        await self._timed(self._expect(Ack, message), START_TIMEOUT_S)

    async def _expect(self, kind: type[Any], message: dict[str, Any]) -> Any:
        """Send a handshake message and check its answer (inside the caller's deadline, so that a wrong answer
        kills the process like any other protocol violation)."""
        reply = await self._send(message)
        if not isinstance(reply, kind):
            raise ProtocolError(f"plugin {self.label!r} answered {message['type']} with {type(reply).__name__}")
        if isinstance(reply, Welcome) and reply.protocol != PROTOCOL_VERSION:
            raise ProtocolError(f"plugin {self.label!r} speaks protocol {reply.protocol}, not {PROTOCOL_VERSION}")
        return reply

    async def ping(self) -> float:
        """The round trip of a ``ping`` in seconds: is the plugin there, and how fast does it answer? Raises
        PluginCrashed when it is not running; one that does not answer in time is killed like any other."""
        if self.state not in _CALLABLE:
            raise PluginCrashed(f"plugin {self.plugin_id!r} is {self._state()}", plugin_id=self.plugin_id)
        start = time.perf_counter()
        async with self._lock:
            await self._timed(self._expect(Pong, {"type": "ping"}))
        return time.perf_counter() - start

    async def stop(self) -> None:
        """Ask the plugin to stop, then make sure it has (a child is killed either way)."""
        if self.state in _OPEN:
            with contextlib.suppress(Exception):
                async with self._lock:
                    await self._timed(self._send({"type": "shutdown"}), 1.0)
        self.state = State.CLOSED
        await self.transport.close(kill=True)
        for task in list(self._tasks):
            task.cancel()

    # -- the stand-in pluggy registers ------------------------------------------------------------------------------
    def stand_in(self, manifest: PluginManifest) -> object:
        """An object with one forwarding hookimpl per hook the plugin declared (and a copy of its manifest)."""
        assert self.welcome is not None
        obj = type(f"Isolated_{manifest.id.replace('-', '_')}", (), {})()
        obj.manifest = manifest
        for name in self.welcome.hooks:
            if name in ROUTE_HOOKS:
                setattr(obj, name, hookimpl(self._route_provider(name)))
            else:
                setattr(obj, name, hookimpl(_forwarder(name, _argnames(name), self._hook_sender(name))))
        return obj

    # -- routes (a sandboxed child's routers) ---------------------------------------------------------------------
    def _route_provider(self, hook: str) -> Callable[[Any], ForwardedRoutes | None]:
        """The stand-in's ``provide_router(ctx)``: synchronous, as the host collects routers at mount time, so it
        answers from the shapes the child described when it was prepared (:meth:`_collect_routes`)."""

        def provide(ctx: Any) -> ForwardedRoutes | None:
            shapes = self._routes.get(hook)
            if shapes is None:
                return None

            async def forward(request: dict[str, Any], ctx: Any) -> RouteAnswer:
                where = f"{hook} {str(request.get('method'))[:10]} {str(request.get('path'))[:100]}"
                return check_route_answer(self.plugin_id, where, await self.call(("route", hook), (request,), ctx))

            return ForwardedRoutes(self.plugin_id, hook, shapes, forward)

        provide.__name__ = hook
        return provide

    async def _collect_routes(self, ctx: Any) -> None:
        """Ask the child for its routers (it calls its route hooks with its ``ctx`` and keeps the routers) and keep
        their shapes; a hook whose permission was not granted is not called. A failing one is recorded against the
        plugin and serves nothing, as in-process (its fallback: skipped)."""
        assert self.welcome is not None
        for hook in sorted(ROUTE_HOOKS.intersection(self.welcome.hooks)):
            if hookspecs.contract_of(getattr(hookspecs.routes, hook)).permission not in self.permissions:
                continue
            try:
                (result,) = await self._call_batch(("hook", hook), [_Item((), ctx, None)])
                if not result.ok:
                    raise self._error(result)
                self._routes[hook] = check_route_shapes(self.plugin_id, hook, decode_plain(result.value))
            except (PluginCrashed, HookDeadlineExceeded, ProtocolError):
                raise  # the process is gone: the plugin could not be started
            except Exception as exc:
                self._routes.pop(hook, None)
                self.on_failure(hook, exc)

    def _hook_sender(self, name: str) -> Callable[[Any, tuple[Any, ...]], Awaitable[Any]]:
        async def send(ctx: Any, args: tuple[Any, ...]) -> Any:
            self._ctx = ctx  # one context per plugin; kept for replays after a restart
            if name in _REPLAYED and name not in self._replay:
                self._replay.append(name)
            if name == "on_disable":
                self._replay = [n for n in self._replay if n != "on_enable"]
            if self._events is not None and name in _EVENT_HOOKS:
                self._queue_event(name, args, ctx)
                return None
            # Checked here, inside the plugin's isolated call: a value out of the hook's contract is this plugin's
            # failure (recorded, fallback), never something the host trips over after the call (_results).
            return check_hook(name, self.plugin_id, await self.call(("hook", name), args, ctx))

        return send

    # -- fire-and-forget events (remote plugins) ---------------------------------------------------------------
    def _queue_event(self, name: str, args: tuple[Any, ...], ctx: Any) -> None:
        assert self._events is not None
        if self._events.full():  # bounded: a slow remote loses its oldest events, never the host's memory
            dropped, _, _ = self._events.get_nowait()
            self.on_failure(dropped, OverflowError("event queue full: the oldest event was dropped"))
        self._events.put_nowait((name, args, ctx))
        if self._event_worker is None or self._event_worker.done():
            self._event_worker = asyncio.get_running_loop().create_task(self._deliver_events())
            self._tasks.add(self._event_worker)
            self._event_worker.add_done_callback(self._tasks.discard)

    async def _deliver_events(self) -> None:
        assert self._events is not None
        while not self._events.empty():
            name, args, ctx = self._events.get_nowait()
            for attempt in range(EVENT_ATTEMPTS):
                try:
                    async with self._lock:
                        (result,) = await self._call_batch(("hook", name), [_Item(args, ctx, None)])
                except Exception as exc:
                    if attempt == EVENT_ATTEMPTS - 1:
                        self.on_failure(name, exc)
                    else:
                        await asyncio.sleep(0.1 * 2**attempt)
                    continue
                if not result.ok:  # the plugin's own code raised: retrying would only raise again
                    self.on_failure(name, self._error(result))
                break

    async def drain_events(self) -> None:
        """Wait until every queued event was delivered or given up (tests, shutdown)."""
        while self._event_worker is not None and not self._event_worker.done():
            await asyncio.wait({self._event_worker})

    # -- calls (batched) ---------------------------------------------------------------------------------------
    async def call(self, target: tuple[str, str], args: tuple[Any, ...], ctx: Any, local: Any = None) -> Any:
        """Call the plugin once. When nobody is talking to it the call goes out at once, by itself; otherwise it is
        queued and goes out with the other calls to ``target`` made meanwhile, as one batch."""
        if self.state not in _CALLABLE:  # fail fast: a restart in progress must not eat the caller's deadline
            raise PluginCrashed(f"plugin {self.plugin_id!r} is {self._state()}", plugin_id=self.plugin_id)
        if not self._lock.locked() and not self._pending:
            return await self._call_alone(target, _Item(args, ctx, local))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(target, []).append(_Item(args, ctx, local, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    async def _call_alone(self, target: tuple[str, str], item: _Item) -> Any:
        # The quiet path (a sequential caller): no task and no future, which is a third of a round trip here.
        async with self._lock:
            try:
                (result,) = await self._call_batch(target, [item])
            except asyncio.CancelledError:
                # The caller gave up mid-conversation: the answer would reach no one and put the channel out of
                # step, so the process goes now (marked down at once; killed and restarted in the background).
                self._crash_soon("a call was cancelled mid-conversation")
                raise
        if result.ok:
            return decode_plain(result.value)
        raise self._error(result)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for target, items in pending.items():
            task = asyncio.get_running_loop().create_task(self._run_batch(target, items))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, target: tuple[str, str], items: list[_Item]) -> None:
        try:
            async with self._lock:
                results = await self._call_batch(target, items)
        except Exception as exc:
            for item in items:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, result in zip(items, results, strict=True):
            if item.future is None or item.future.done():
                continue
            if result.ok:
                item.future.set_result(decode_plain(result.value))
            else:
                item.future.set_exception(self._error(result))

    def _error(self, result: ItemResult) -> Exception:
        info = result.error
        if info is not None and info.type == "PermissionDenied":
            return PermissionDenied(self.plugin_id, info.permission, "isolated", "call")
        kind = info.type if info is not None else "Error"
        message = info.message if info is not None else ""
        trace = info.traceback if info is not None else None
        return RemotePluginError(f"{kind}: {message}", plugin_id=self.plugin_id, error_type=kind, child_traceback=trace)

    async def _call_batch(self, target: tuple[str, str], items: list[_Item]) -> list[ItemResult]:
        await self._ensure_open()
        if self.state is State.LOST:  # the remote restarted and lost this conversation: greet it before the call
            self.state = State.OPENING
            await self._restart()
        kind, name = target
        encoded = [encode_value(list(item.args), self.interner) for item in items]
        shared, drop = self.interner.take() if self.interner is not None else ({}, [])
        message: dict[str, Any] = {"type": "call", kind: name, "items": encoded}
        if shared or drop:
            message |= {"shared": shared, "drop": drop}
        deadline = self.deadline_s + PER_ITEM_S * (len(items) - 1)
        try:
            deadline_at = asyncio.get_running_loop().time() + deadline
            results: list[ItemResult] = await self._guarded(self._converse(message, items, deadline_at))
        except OversizedMessage:
            # Nothing was sent: the plugin is fine. A batch too big for one message goes as two; a single call
            # too big fails alone (its caller falls back), without harming the plugin.
            if self.interner is not None:
                self.interner.untake(shared, drop)
            if len(items) == 1:
                raise
            half = len(items) // 2
            return await self._call_batch(target, items[:half]) + await self._call_batch(target, items[half:])
        return results

    async def _converse(self, message: dict[str, Any], items: list[_Item], deadline: float) -> list[ItemResult]:
        """One call's conversation; every wait ends at ``deadline`` (the transport's timer), and capability work
        done here for the plugin is checked against it after each request."""
        reply = await self._send(message, deadline=deadline)
        call_id = message["id"]
        while isinstance(reply, CapRequest):
            if reply.call != call_id or reply.id <= self._last_cap:
                raise ProtocolError(
                    f"plugin {self.plugin_id!r}: capability request {reply.id} is not for call {call_id}"
                )
            self._last_cap = reply.id
            answer = await self._perform(reply, items)
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError
            try:
                reply = await self._send(answer, fresh_id=False, deadline=deadline)
            except OversizedMessage as exc:  # the plugin waits for an answer: it gets the refusal instead
                error = {"type": "ValueError", "message": str(exc)}
                refusal = {"type": "cap_result", "id": reply.id, "ok": False, "error": error}
                reply = await self._send(refusal, fresh_id=False, deadline=deadline)
        if isinstance(reply, Result) and reply.id == call_id:
            if len(reply.results) != len(items):
                raise ProtocolError(f"plugin {self.plugin_id!r} answered {len(reply.results)} of {len(items)} items")
            return reply.results
        if isinstance(reply, Failure) and reply.id == call_id:
            failed = reply.error
            raise RemotePluginError(
                f"{failed.type}: {failed.message}",
                plugin_id=self.plugin_id,
                error_type=failed.type,
                child_traceback=failed.traceback,
            )
        raise ProtocolError(
            f"plugin {self.plugin_id!r} answered call {call_id} with a {type(reply).__name__} for request {reply.id}"
        )

    async def _send(self, message: dict[str, Any], *, fresh_id: bool = True, deadline: float | None = None) -> Any:
        if fresh_id:
            self._ids += 1
            message["id"] = self._ids
        raw = await self.transport.exchange(message, deadline)
        reply = parse_plugin_message(raw)
        if fresh_id and not isinstance(reply, CapRequest) and reply.id != message["id"]:
            raise ProtocolError(f"plugin {self.label!r} answered request {message['id']} as {reply.id}")
        return reply

    async def _timed(self, work: Awaitable[Any], seconds: float | None = None) -> Any:
        """Run a handshake exchange under a deadline (calls carry theirs to the transport instead)."""
        return await self._guarded(self._within(work, seconds if seconds is not None else self.deadline_s))

    @staticmethod
    async def _within(work: Awaitable[Any], seconds: float) -> Any:
        async with asyncio.timeout(seconds):
            return await work

    async def _guarded(self, work: Awaitable[Any]) -> Any:
        """A missed deadline or a broken protocol kills the plugin process (a remote: fails only this call)."""
        try:
            return await work
        except TimeoutError:
            await self._crash("missed its deadline")
            raise HookDeadlineExceeded(
                f"plugin {self.plugin_id!r} missed its deadline", plugin_id=self.plugin_id
            ) from None
        except ProtocolError as exc:
            await self._crash(f"broke the protocol: {exc}")
            raise
        except PluginCrashed as exc:
            await self._crash(str(exc), greet_again=isinstance(exc, ConversationLost))
            raise

    # -- capability requests -----------------------------------------------------------------------------------
    async def _perform(self, req: CapRequest, items: list[_Item]) -> dict[str, Any]:
        if req.item is not None and req.item >= len(items):
            raise ProtocolError(f"plugin {self.plugin_id!r}: capability request for item {req.item} of {len(items)}")
        item = items[req.item or 0]
        try:
            value = await self._capability(req, item)
            return {"type": "cap_result", "id": req.id, "ok": True, "value": encode_value(value)}
        except Exception as exc:
            return {"type": "cap_result", "id": req.id, "ok": False, "error": error_info(exc)}

    async def _capability(self, req: CapRequest, item: _Item) -> Any:
        capability, member = req.capability, req.member
        args, kwargs = decode_plain(req.args), decode_plain(req.kwargs)
        if capability == "effect" and member == "get_flag" and item.local is not None:
            return item.local.get_flag(*args, **kwargs)
        if capability == "behavior" and member in REGISTER_MEMBERS and len(args) == 1 and not kwargs:
            return self._register(item.ctx, member, args[0])
        if capability not in CAPABILITIES or (capability == "behavior" and member in REGISTER_MEMBERS):
            denial = PermissionDenied(self.plugin_id, None, capability[:40], member[:40])
            self.on_denied(denial)
            raise denial
        result = getattr(getattr(item.ctx, capability), member)(*args, **kwargs)  # the proxies check and record
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        return result

    def _register(self, ctx: Any, member: str, name: Any) -> str:
        key = (member, str(name))
        if key in self._registered:  # a restarted child registering again: same stand-in, same id
            return self._registered[key]
        box: list[str] = []
        check = extension_check(member)  # a KeyError here is a bug: REGISTER_MEMBERS and the checks go together

        async def forward(ctx: Any, *args: Any) -> Any:
            # The answer is checked before the engine sees it (the engine trusts a condition to be a bool and a
            # factor to be a number it can do arithmetic on): out of contract, it is this plugin's failure.
            if member != "register_effect_handler":
                return check(self.plugin_id, box[0], await self.call(("extension", box[0]), args, ctx))
            params, view, writer = args
            staged = await self.call(("extension", box[0]), (params, view), ctx, local=writer)
            _apply_staged(self.plugin_id, box[0], staged, writer)
            return None

        full = str(getattr(ctx.behavior, member)(name, forward))
        box.append(full)
        self._registered[key] = full
        return full

    # -- crashes and restarts ----------------------------------------------------------------------------------
    def _unasked(self, error: ProtocolError) -> None:
        """A frame arrived while no answer was awaited (no request outstanding, or a second frame for one): it is
        not believed, nor anything after it. No call is there to record the violation, so it is recorded here,
        against the plugin; the child is killed now, not at its next call, and restarted after the backoff."""
        self.on_failure("channel", error)
        self._crash_soon(f"broke the protocol: {error}")

    def _crash_soon(self, reason: str) -> None:
        """:meth:`_crash` from code that cannot wait: no call goes out from here on; the kill follows."""
        if self.state not in _OPEN or not self.transport.restartable:  # a remote's server drops the late answer
            return
        self.state = State.CRASHED
        task = asyncio.get_running_loop().create_task(self._finish_crash(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _crash(self, reason: str, *, greet_again: bool = False) -> None:
        """Kill the plugin's process; restart it in the background after a backoff, or give it up (crash loop).
        A remote is not ours to kill or restart: each exchange stands alone, so a failed one fails only its call
        (fallback; the breakers decide when to stop calling), and one that lost this conversation (it restarted)
        is greeted again before the next call."""
        if self.state not in _OPEN:
            return
        if not self.transport.restartable:
            if greet_again and self.state is State.READY:
                self.state = State.LOST
            _log.warning("remote plugin exchange failed", plugin_id=self.plugin_id, reason=reason)
            return
        self.state = State.CRASHED
        await self._finish_crash(reason)

    async def _finish_crash(self, reason: str) -> None:
        tail = getattr(self.transport, "log_tail", lambda: "")()
        await self.transport.close(kill=True)
        if not self.transport.restartable:
            return
        retry_at = self.policy.crashed(time.monotonic())
        _log.error("plugin process killed", plugin_id=self.plugin_id, reason=reason, output_tail=tail[-500:])
        if retry_at is None:
            self.state = State.GIVEN_UP
            self.gave_up = f"crash loop: {self.policy.limit} crashes within {self.policy.window_s:g}s (last: {reason})"
            self.on_crash_loop(self.gave_up)
            return
        # Restarting takes an interpreter start: never inside a call (it would miss its deadline), always after it.
        task = asyncio.get_running_loop().create_task(self._restart_at(retry_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def running(self) -> bool:
        """Ready for calls (started, granted, registrations made again after a restart)."""
        return self.state in _CALLABLE

    def _state(self) -> str:
        if self.state is State.GIVEN_UP:
            return f"given up ({self.gave_up})"
        return "stopped" if self.state is State.CLOSED else "restarting"

    async def _ensure_open(self) -> None:
        if self.state not in _OPEN:
            raise PluginCrashed(f"plugin {self.plugin_id!r} is {self._state()}", plugin_id=self.plugin_id)

    async def _restart_at(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        async with self._lock:
            if self.state is not State.CRASHED:  # stopped, given up, or already started again meanwhile
                return
            try:
                await self._restart()
            except Exception as exc:  # a failed restart is one more crash (unless the failure already counted it)
                await self._crash(f"restart failed: {type(exc).__name__}: {exc}")

    async def _restart(self) -> None:
        welcome = await self.start()
        if welcome.manifest.get("id") != self.plugin_id:
            raise ProtocolError(f"plugin {self.plugin_id!r} came back as another plugin")
        await self.grant(self.plugin_id, self.permissions)
        for hook in list(self._replay):  # the child lost its registrations: it makes them again
            await self._call_batch(("hook", hook), [_Item((), self._ctx, None)])
        if self._routes:  # and its routers (the host keeps forwarding the routes it described first)
            first = dict(self._routes)
            await self._collect_routes(self._ctx)
            self._routes = first
        self.state = State.READY
        _log.info("plugin process restarted", plugin_id=self.plugin_id)

    async def prepare(self, plugin_id: str, permissions: Sequence[str], ctx: Any = None) -> None:
        """Before the plugin's lifecycle hooks: (re)start it if it is not running, grant it its permissions and,
        for a plugin that serves routes, collect their shapes (its route hooks run with ``ctx``)."""
        self.reset()
        self._replay = []
        if self.state not in _OPEN:
            await self.start()
        await self.grant(plugin_id, permissions)
        self._ctx = ctx if ctx is not None else self._ctx
        self._routes = {}
        await self._collect_routes(self._ctx)
        self.state = State.READY

    def reset(self) -> None:
        """Forget crash history (the operator re-enabled the plugin)."""
        self.gave_up = None
        if self.state is State.GIVEN_UP:
            self.state = State.CLOSED
        self.policy.crashes.clear()


def _apply_staged(plugin_id: str, effect_id: str, staged: Any, writer: Any) -> None:
    """An effect's staged writes, checked whole (types and ranges, ``_results``), then re-applied through the host's
    own writer, which checks the namespace (a denial) and the size of each value. Whatever the writer refuses
    besides a denial is reported as the plugin's invalid answer: nothing but the plugin's failure leaves here, and
    the engine applies none of the effect's writes once it failed."""
    flags, relationships = check_effect(plugin_id, effect_id, staged)
    try:
        for key, value in flags.items():
            writer.set_flag(key, value)
        for npc_key, metrics in relationships.items():
            for metric, delta in metrics.items():
                writer.adjust_relationship(npc_key, metric, delta)
    except PermissionDenied:
        raise
    except Exception as exc:
        raise RemotePluginError(
            f"plugin {plugin_id!r}: {effect_id} answered writes the host refuses: {type(exc).__name__}: {exc}",
            plugin_id=plugin_id,
            error_type=INVALID_RESULT,
        ) from None


def _argnames(hook: str) -> tuple[str, ...]:
    for module in hookspecs.SPEC_MODULES:
        fn = getattr(module, hook, None)
        if fn is not None:
            code = fn.__code__
            return tuple(code.co_varnames[: code.co_argcount])
    raise LookupError(hook)


def _forwarder(name: str, argnames: tuple[str, ...], send: Callable[[Any, tuple[Any, ...]], Awaitable[Any]]) -> Any:
    """An ``async def <name>(ctx, <spec args>)`` that sends its arguments: pluggy reads the parameter names, so
    they must be the hookspec's own. Built from the hookspec's names only (checked to be identifiers)."""
    if not all(a.isidentifier() and not keyword.iskeyword(a) for a in (name, *argnames)):
        raise ValueError(f"bad hook signature {name}{argnames}")
    rest = "".join(f"{a}, " for a in argnames if a != "ctx")
    source = f"async def {name}({', '.join(argnames)}):\n    return await _send(ctx, ({rest}))\n"
    namespace: dict[str, Any] = {"_send": send}
    exec(source, namespace)
    return namespace[name]

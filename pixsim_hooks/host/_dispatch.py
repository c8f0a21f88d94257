"""Isolated dispatch: one loop runs every plugin call — hooks, behavior extensions, lifecycle, collecting calls.

pluggy stays the registry and the contract; calling runs our own loop over ``get_hookimpls()`` (in pluggy's call
order) because that is both faster and the only way to isolate each implementation: an exception, a
``PermissionDenied`` or a missed deadline is recorded against that plugin and the call goes on with the rest.
Async implementations are awaited in order (not gathered) under one deadline per call. In-process deadlines cannot
stop CPU-bound code; out-of-process runtimes can.

:class:`Dispatcher` is what the loop needs of the host, and no more: who may take part (a callback), the breakers,
the failure recorder, the telemetry and the deadline. Tracing and the sampled duration metric are an observer the
loop is handed (a :class:`_Timing`, the way pluggy swaps its ``_hookexec`` for monitoring): with tracing off, 31
calls in 32 pass ``None`` and make no OpenTelemetry call at all.

The plan of a hook (which implementations, with which context) is rebuilt only when the host's registrations or
enablement change (:attr:`Dispatcher.generation`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

import pluggy
from opentelemetry.trace import Status, StatusCode

from hookspecs import HookContract
from pixsim_hooks.host._breaker import Breakers
from pixsim_hooks.host._health import Outcome
from pixsim_hooks.host._world import WorldScope
from pixsim_hooks.plugin import CORE_PLUGIN_ID, BehaviorEntry, HookDeadlineExceeded, PermissionDenied
from pixsim_hooks.telemetry import (
    ATTR_DURATIONS,
    ATTR_HOOK,
    ATTR_OUTCOME,
    ATTR_PLUGIN,
    ATTR_PLUGINS,
    ATTR_WORLD,
    SAMPLE_EVERY,
    Telemetry,
)

__all__ = ["Dispatcher", "HookCaller", "HookRelay", "Impl", "ImplStats", "await_by", "outcome_of"]

_NONE: frozenset[str] = frozenset()
Participant = Callable[[str, str], Any]
"""``participant(plugin_id, hook)`` → the context to call the plugin's impl with, or None when it must not take part."""
RecordFailure = Callable[[str, str, Outcome, BaseException, "int | None"], None]


class ImplStats:
    """Successful calls of one plugin's impl of one hook; a plain counter, exported by an observable metric."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


@dataclass(frozen=True, slots=True)
class Impl:
    """One plugin callable ready to call as ``call(ctx, *args)``; ``where`` names it in failure records."""

    plugin_id: str
    call: Callable[..., Any]
    ctx: object
    stats: ImplStats
    where: str
    bounded: bool = False  # its own conversation carries the deadline (an out-of-process stand-in): no timer here
    span_name: str = "pixsim.hook"


def outcome_of(exc: BaseException) -> Outcome:
    if isinstance(exc, PermissionDenied):
        return Outcome.DENIED
    # Only the host's deadline is a timeout: a TimeoutError the plugin raised itself (its upstream timed out) is
    # its error, and counting it as a timeout would send operators to raise a deadline that was never hit.
    if isinstance(exc, HookDeadlineExceeded):
        return Outcome.TIMEOUT
    return Outcome.ERROR


async def await_by(coro: Any, deadline: float) -> Any:
    """Await one plugin coroutine under the call's deadline (loop time)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await coro
    except TimeoutError as exc:
        if asyncio.get_running_loop().time() >= deadline:
            raise HookDeadlineExceeded("hook call deadline exceeded") from exc
        raise


class Dispatcher:
    """The one isolated loop, and what it needs of the host."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        participant: Participant,
        isolated: Callable[[str], bool],
        breakers: Breakers,
        telemetry: Telemetry,
        record_failure: RecordFailure,
        deadline_ms: float,
    ) -> None:
        self.pm = pm
        self.participant = participant
        self.isolated = isolated
        self.breakers = breakers
        self.telemetry = telemetry
        self.record_failure = record_failure
        self.deadline_ms = deadline_ms
        self.generation = 0  # bumped whenever what a plan depends on changes (registrations, enablement)
        self.stats: dict[tuple[str, str], ImplStats] = {}
        self._extensions: dict[str, tuple[int, Impl | None]] = {}  # extension id -> (generation, impl)
        self._calls = 0

    # -- accounting -----------------------------------------------------------------------------------------
    def stats_of(self, plugin_id: str, where: str) -> ImplStats:
        """The success counter of one plugin's impl of one hook (or extension kind); kept across plan rebuilds."""
        stats = self.stats.get((plugin_id, where))
        if stats is None:
            stats = self.stats[(plugin_id, where)] = ImplStats()
        return stats

    def deadline(self, ms: float | None = None) -> float:
        return asyncio.get_running_loop().time() + (ms or self.deadline_ms) / 1000

    def observer(self, impl: Impl, world_id: int | None) -> _Timing | None:
        """Who watches this call: a span (tracing on) or the sampled duration metric (1 call in SAMPLE_EVERY)."""
        self._calls += 1
        sampled = not self._calls % SAMPLE_EVERY
        tracer = self.telemetry.tracer
        if tracer is None and not sampled:
            return None
        return _Timing(self, impl.where, world_id, _start_span(tracer, impl, world_id), sampled)

    # -- the loop ---------------------------------------------------------------------------------------------
    async def run(
        self,
        impls: Sequence[Impl],
        args: tuple[Any, ...],
        world: WorldScope | None,
        *,
        sync: bool = False,
        deadline_ms: float | None = None,
        failures: list[BaseException] | None = None,
    ) -> list[tuple[Impl, Any]]:
        """Call each impl isolated; ``(impl, result)`` of those that succeeded, in call order.

        ``sync``: the caller cannot await (an async impl is that plugin's failure) and drives this coroutine by
        hand; it never suspends then. World scoping and breakers apply here; ``failures`` collects exceptions.
        """
        world_id = enabled = None
        blocked = half_open = _NONE
        if world is not None:
            world_id, enabled = world.world_id, world.enabled
            if world_id is not None and self.breakers.any_tripped:
                blocked, half_open = self.breakers.blocked(world_id), self.breakers.half_open(world_id)
        timing = self.observer(impls[0], world_id) if impls else None
        done: list[tuple[Impl, Any]] = []
        deadline: float | None = None
        for impl in impls:
            pid = impl.plugin_id
            if pid in blocked or (enabled is not None and pid not in enabled and pid != CORE_PLUGIN_ID):
                continue
            try:
                result = impl.call(impl.ctx, *args)
                if type(result) is CoroutineType:
                    if sync:
                        result.close()
                        raise TypeError(f"async hookimpl {pid}.{impl.where} cannot run in a synchronous hook call")
                    if impl.bounded:
                        result = await result
                    else:
                        deadline = deadline or self.deadline(deadline_ms)
                        result = await await_by(result, deadline)
            except Exception as exc:
                self._failed(impl, exc, world_id, timing, failures)
                continue
            if timing is not None:
                timing.lap(pid)
            impl.stats.calls += 1
            if half_open and pid in half_open:
                self.breakers.record_success(pid, world_id)  # type: ignore[arg-type]  # half_open implies a world
            done.append((impl, result))
        if timing is not None:
            timing.finish()
        return done

    def run_sync(
        self, impls: Sequence[Impl], args: tuple[Any, ...], world: WorldScope | None
    ) -> list[tuple[Impl, Any]]:
        """:meth:`run` from synchronous code: the same loop, driven by hand (it cannot suspend in sync mode)."""
        coro = self.run(impls, args, world, sync=True)
        try:
            coro.send(None)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        coro.close()
        raise RuntimeError("a synchronous dispatch suspended")  # cannot happen: sync mode never awaits

    def _failed(
        self,
        impl: Impl,
        exc: BaseException,
        world_id: int | None,
        timing: _Timing | None,
        failures: list[BaseException] | None,
    ) -> None:
        if timing is not None:
            timing.lap(impl.plugin_id)
            timing.failed(impl.plugin_id, exc)
        if failures is not None:
            failures.append(exc)
        self.record_failure(impl.plugin_id, impl.where, outcome_of(exc), exc, world_id)

    # -- behavior extensions ----------------------------------------------------------------------------------
    async def call_extension(
        self, entry: BehaviorEntry, args: tuple[Any, ...], fallback: Any, world: WorldScope | None
    ) -> Any:
        """A registered behavior extension as ``fn(ctx, *args)``, through the one loop: the world's enablement,
        the breakers and the deadline apply; a failure (recorded) or a plugin not taking part gives ``fallback``."""
        impl = self._extension_impl(entry)
        if impl is None:
            return fallback
        done = await self.run((impl,), args, world)
        return done[0][1] if done else fallback

    def _extension_impl(self, entry: BehaviorEntry) -> Impl | None:
        cached = self._extensions.get(entry.id)
        if cached is not None and cached[0] == self.generation and (cached[1] is None or cached[1].call is entry.fn):
            return cached[1]
        impl: Impl | None
        if entry.plugin_id == CORE_PLUGIN_ID:  # built-ins take no context and are never filtered
            impl = Impl(CORE_PLUGIN_ID, entry.fn, None, ImplStats(), entry.id, span_name=_span_of(entry))
        else:
            ctx = self.participant(entry.plugin_id, entry.kind.value)
            stats = self.stats_of(entry.plugin_id, entry.kind.value)  # counted like a hookimpl call, by kind
            # An out-of-process plugin's extensions are the host's own stand-ins, whose conversation carries the
            # deadline (and kills at it): a second timer here would only cost every call. Decided from the host's
            # own record of who runs out of process, never from anything the registered function carries.
            bounded = self.isolated(entry.plugin_id)
            impl = (
                None if ctx is None else Impl(entry.plugin_id, entry.fn, ctx, stats, entry.id, bounded, _span_of(entry))
            )
        self._extensions[entry.id] = (self.generation, impl)
        return impl


class HookCaller:
    """``host.hook.<name>``: ``await caller(world=scope, **kwargs)`` or ``caller.call_sync(...)``.

    Returns the non-None results of the implementations that succeeded, in call order. ``world`` (a
    :class:`WorldScope`) limits the call to plugins that world has enabled (and whose circuit breaker for that world
    is not open) and tags records and spans with it.
    """

    def __init__(self, dispatcher: Dispatcher, name: str, contract: HookContract, spec_argnames: Sequence[str]) -> None:
        self.name = name
        self.contract = contract
        self._dispatcher = dispatcher
        self._spec_rest = tuple(a for a in spec_argnames if a != "ctx")
        self._plan: tuple[Impl, ...] = ()
        self._plan_generation = -1
        self._span_name = f"pixsim.hook.{name}"

    # -- plan ---------------------------------------------------------------------------------------------
    def plan(self) -> tuple[Impl, ...]:
        dispatcher = self._dispatcher
        if self._plan_generation != dispatcher.generation:
            self._plan = tuple(self._build_plan())
            self._plan_generation = dispatcher.generation
        return self._plan

    def _build_plan(self) -> list[Impl]:
        impls = []
        for hookimpl in self._hookimpls():
            ctx = self._dispatcher.participant(hookimpl.plugin_name, self.name)
            if ctx is not None:
                impls.append(self._impl(hookimpl, ctx))
        return impls

    def _hookimpls(self) -> list[Any]:
        return list(reversed(getattr(self._dispatcher.pm.hook, self.name).get_hookimpls()))  # pluggy's call order

    def _impl(self, hookimpl: Any, ctx: object) -> Impl:
        stats = self._dispatcher.stats_of(hookimpl.plugin_name, self.name)
        return Impl(hookimpl.plugin_name, self._adapted(hookimpl), ctx, stats, self.name, span_name=self._span_name)

    def _adapted(self, hookimpl: Any) -> Callable[..., Any]:
        """The impl as ``call(ctx, *spec_args)``: as it is when it takes the spec's arguments in order (nearly
        always), else by name (pluggy lets an impl take a subset, in any order)."""
        argnames = tuple(hookimpl.argnames)
        fn: Callable[..., Any] = hookimpl.function
        if argnames == ("ctx", *self._spec_rest):
            return fn
        names = ("ctx", *self._spec_rest)

        def by_name(*values: Any) -> Any:
            given = dict(zip(names, values, strict=True))
            return fn(*[given[name] for name in argnames])

        return by_name

    def _spec_args(self, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple([kwargs[a] for a in self._spec_rest])
        except KeyError as exc:
            raise TypeError(f"hook {self.name!r} needs argument {exc.args[0]!r}") from None

    # -- calling ------------------------------------------------------------------------------------------
    async def __call__(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        done = await self._dispatcher.run(
            self.plan(), self._spec_args(kwargs), world, deadline_ms=self.contract.deadline_ms
        )
        return [result for _, result in done if result is not None]

    def call_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        """Call from synchronous code. An async implementation is a failure of its plugin here."""
        done = self._dispatcher.run_sync(self.plan(), self._spec_args(kwargs), world)
        return [result for _, result in done if result is not None]

    def collect_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like :meth:`call_sync`, pairing each non-None result with the plugin id (start-up paths, not hot)."""
        done = self._dispatcher.run_sync(self.plan(), self._spec_args(kwargs), world)
        return [(impl.plugin_id, result) for impl, result in done if result is not None]

    async def call_plugin(self, plugin_id: str, ctx: object, **kwargs: Any) -> BaseException | None:
        """Call one plugin's impl (lifecycle: whatever its state) through the same loop; its failure, or None
        (also when it does not implement the hook)."""
        hookimpl = next((h for h in self._hookimpls() if h.plugin_name == plugin_id), None)
        if hookimpl is None:
            return None
        failures: list[BaseException] = []
        impl = self._impl(hookimpl, ctx)
        await self._dispatcher.run(
            (impl,), self._spec_args(kwargs), None, deadline_ms=self.contract.deadline_ms, failures=failures
        )
        return failures[0] if failures else None

    def deadline(self) -> float:
        return self._dispatcher.deadline(self.contract.deadline_ms)


def _span_of(entry: BehaviorEntry) -> str:
    return f"pixsim.extension.{entry.kind.value}"  # the extension's id is the span's pixsim.hook.name


def _start_span(tracer: Any, first: Impl, world_id: int | None) -> Any:
    if tracer is None:
        return None
    attributes: dict[str, Any] = {ATTR_HOOK: first.where}
    if world_id is not None:
        attributes[ATTR_WORLD] = world_id
    span = tracer.start_span(first.span_name, attributes=attributes)
    if span.is_recording():
        return span
    span.end()  # the sampler dropped it: time the impls, write nothing
    return None


class _Timing:
    """The observer of one watched call: per-impl wall time (one clock read per impl: each lap ends the previous
    one) for the duration histogram when sampled, and the span when tracing. An SDK span costs ~15 us here and a
    span event ~5 us, so per-impl results are written once, as two compact string attributes; only failures add an
    (exception) event. The span is not made current: attaching a context would cost as much again."""

    __slots__ = ("_dispatcher", "_last", "_sampled", "_span", "_where", "ids", "laps")

    def __init__(self, dispatcher: Dispatcher, where: str, world_id: int | None, span: Any, sampled: bool) -> None:
        self._dispatcher = dispatcher
        self._where = where
        self._span = span
        self._sampled = sampled
        self.ids: list[str] = []
        self.laps: list[int] = []
        self._last = time.perf_counter_ns()

    def lap(self, plugin_id: str) -> None:
        now = time.perf_counter_ns()
        self.ids.append(plugin_id)
        self.laps.append(now - self._last)
        self._last = now

    def failed(self, plugin_id: str, exc: BaseException) -> None:
        if self._span is not None:
            outcome = outcome_of(exc)
            self._span.record_exception(exc, attributes={ATTR_PLUGIN: plugin_id, ATTR_OUTCOME: outcome.value})
            self._span.set_status(Status(StatusCode.ERROR, f"{plugin_id}: {outcome.value}"))

    def finish(self) -> None:
        if self._sampled:
            self._dispatcher.telemetry.record_durations(self._where, self.ids, self.laps)
        span = self._span
        if span is not None:
            # One call (each takes the span's lock and validates every value); a single plugin gets pixsim.plugin.id.
            ids = self.ids[0] if len(self.ids) == 1 else ",".join(self.ids)
            key = ATTR_PLUGIN if len(self.ids) == 1 else ATTR_PLUGINS
            span.set_attributes({key: ids, ATTR_DURATIONS: ",".join(map(str, self.laps))})
            span.end()


class HookRelay:
    """``host.hook``: one :class:`HookCaller` per hookspec, as attributes."""

    def __init__(self, callers: dict[str, HookCaller]) -> None:
        self._callers = callers
        for name, caller in callers.items():
            setattr(self, name, caller)

    def __getattr__(self, name: str) -> HookCaller:
        raise AttributeError(f"no hookspec named {name!r}; known: {sorted(self._callers)}")

    def callers(self) -> tuple[HookCaller, ...]:
        return tuple(self._callers.values())

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
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

__all__ = ["Delivery", "Dispatcher", "HookCaller", "HookRelay", "Impl", "ImplStats", "Tally", "outcome_of"]

_NONE: frozenset[str] = frozenset()
Participant = Callable[[str, str], Any]
"""``participant(plugin_id, hook)`` → the context to call the plugin's impl with, or None when it must not take part."""
RecordFailure = Callable[[str, str, Outcome, BaseException, "int | None"], None]


class Delivery(StrEnum):
    """How :meth:`HookCaller.deliver` went, when the plugin did not fail."""

    DELIVERED = "delivered"
    ABSENT = "absent"
    BLOCKED = "blocked"


class Tally:
    """How often one set of impls (a hook's plan as one world sees it, an extension) was called: one bump per call
    of the whole set, whatever the number of impls in it."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


class ImplStats:
    """Successful calls of one plugin's impl of one hook (or extension kind), exported by an observable metric.

    Not a counter bumped per impl: the calls of every set the impl takes part in (its tallies), less the calls it
    failed or was left out of (``missed``), worked out when read. The hot path bumps one tally per call."""

    __slots__ = ("_settled", "_tallies", "missed")

    def __init__(self) -> None:
        self._settled = 0
        self._tallies: list[Tally] = []
        self.missed = 0

    def join(self, tally: Tally) -> None:
        self._tallies.append(tally)

    def leave(self, tally: Tally) -> None:
        """The set is done with (a rebuilt plan): its calls so far are kept, and it is no longer read."""
        self._settled += tally.calls
        self._tallies.remove(tally)

    @property
    def calls(self) -> int:
        return self._settled + sum(t.calls for t in list(self._tallies)) - self.missed


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

    @property
    def alone(self) -> tuple[Impl, ...]:
        return (self,)


def tallied(impls: tuple[Impl, ...]) -> tuple[tuple[Impl, ...], Tally]:
    """``impls`` with a new tally that each of their stats counts."""
    tally = Tally()
    for impl in impls:
        impl.stats.join(tally)
    return impls, tally


def untallied(impls: tuple[Impl, ...], tally: Tally) -> None:
    for impl in impls:
        impl.stats.leave(tally)


def outcome_of(exc: BaseException) -> Outcome:
    if isinstance(exc, PermissionDenied):
        return Outcome.DENIED
    # Only the host's deadline is a timeout: a TimeoutError the plugin raised itself (its upstream timed out) is
    # its error, and counting it as a timeout would send operators to raise a deadline that was never hit.
    if isinstance(exc, HookDeadlineExceeded):
        return Outcome.TIMEOUT
    return Outcome.ERROR


async def _contained(coro: CoroutineType[Any, Any, Any]) -> tuple[bool, Any]:
    """A plugin coroutine as a task may run it: whatever it raises comes back as a value, so that no SystemExit or
    KeyboardInterrupt from plugin code escapes into the event loop (asyncio re-raises those out of a task step)."""
    try:
        return True, await coro
    except asyncio.CancelledError:
        raise  # the task is being abandoned (or cancelled itself): reported by the task's state
    except BaseException as exc:
        return False, exc


_ABANDONED: set[asyncio.Task[Any]] = set()  # abandoned plugin tasks, kept alive until they end (never awaited)


def _abandon(task: asyncio.Task[Any]) -> None:
    """Stop waiting for a plugin's task: ask it to stop, and drop whatever it still answers."""
    task.cancel()
    if not task.done():
        _ABANDONED.add(task)
        task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log an abandoned plugin's late failure as lost


def _overran(impl: Impl) -> HookDeadlineExceeded:
    return HookDeadlineExceeded(f"{impl.where} of plugin {impl.plugin_id!r} returned after the call's deadline")


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
        trace_sample: float = 1.0,
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
        self._extensions: dict[str, tuple[int, Impl | None, Tally]] = {}  # extension id -> (generation, impl, tally)
        self._calls = 0
        # Head sampling of traces by count, decided here: an unsampled call never reaches the SDK's sampler, whose
        # decision alone costs microseconds (one call in `_trace_every` is traced).
        self._trace_every = max(1, round(1 / trace_sample))

    # -- accounting -----------------------------------------------------------------------------------------
    def stats_of(self, plugin_id: str, where: str) -> ImplStats:
        """The success counter of one plugin's impl of one hook (or extension kind); kept across plan rebuilds."""
        stats = self.stats.get((plugin_id, where))
        if stats is None:
            stats = self.stats[(plugin_id, where)] = ImplStats()
        return stats

    def observer(self, impl: Impl, world_id: int | None, calls: int) -> _Timing | None:
        """Who watches call number ``calls``: a span (tracing on, sampled by ``trace_sample``) and/or the duration
        metric (1 call in SAMPLE_EVERY). The loop asks only when one of them may: the rest make no call here."""
        sampled = not calls % SAMPLE_EVERY
        tracer = self.telemetry.tracer
        if tracer is not None and calls % self._trace_every:
            tracer = None
        if tracer is None and not sampled:
            return None
        return _Timing(self, impl.where, world_id, _start_span(tracer, impl, world_id), sampled)

    # -- the loop ---------------------------------------------------------------------------------------------
    # One loop (_step) calls the impls; it runs synchronously until an impl answers with a coroutine, which it hands
    # to its driver: :meth:`run` awaits it under the call's deadline and lets the loop go on, :meth:`run_sync`
    # (a caller that cannot await) counts it as that plugin's failure. A sync call thus never makes a coroutine.
    async def run(
        self,
        impls: Sequence[Impl],
        tally: Tally,
        args: tuple[Any, ...],
        world_id: int | None = None,
        *,
        keep_none: bool = False,
        deadline_ms: float | None = None,
        failures: list[tuple[str, BaseException]] | None = None,
    ) -> list[Any]:
        """Call each impl isolated, in order, as ``impl.call(impl.ctx, *args)``; the results of those that
        succeeded (None results only with ``keep_none``), all under one deadline.

        The caller has already left out the plugins the world does not let take part; the breakers of
        ``world_id`` apply here. ``failures`` collects (plugin id, exception).
        """
        impls, timing, failures, limit = self._begin(impls, tally, world_id, failures, deadline_ms)
        done: list[Any] = []
        remaining = iter(impls)
        while (pending := self._step(remaining, args, done, world_id, timing, failures, keep_none, limit)) is not None:
            await self._settle(pending, limit, done, world_id, timing, failures, keep_none)
        self._end(impls, world_id, timing, failures)
        return done

    async def _settle(
        self,
        pending: tuple[Impl, CoroutineType[Any, Any, Any]],
        limit: float,
        done: list[Any],
        world_id: int | None,
        timing: _Timing | None,
        failures: list[tuple[str, BaseException]] | None,
        keep_none: bool,
    ) -> None:
        """The coroutine an async impl answered with, run to its end or abandoned at the call's deadline.

        A plugin's coroutine runs as a task of its own (its own context, its own ``current_task()``), which this
        call waits for without ever being inside it: one that swallows cancellation cannot hold the call, and
        one that answers late is not listened to. An out-of-process stand-in (``bounded``) is host code whose
        conversation carries the deadline and kills at it: awaited as it is."""
        impl, coro = pending
        if impl.bounded:
            try:
                result = await coro
            except Exception as exc:
                self._failed(impl, exc, world_id, timing, failures)
                return
            self._kept(impl, result, done, timing, keep_none)
            return
        task = asyncio.get_running_loop().create_task(_contained(coro))
        try:
            finished, _ = await asyncio.wait((task,), timeout=max(0.0, limit - time.monotonic()))
        except asyncio.CancelledError:  # the host's own cancellation: the plugin's work goes with it
            _abandon(task)
            raise
        if not finished:
            _abandon(task)
            self._failed(impl, HookDeadlineExceeded("hook call deadline exceeded"), world_id, timing, failures)
            return
        if task.cancelled():  # the plugin cancelled itself
            self._failed(
                impl, asyncio.CancelledError("the plugin's coroutine was cancelled"), world_id, timing, failures
            )
            return
        ok, result = task.result()
        if not ok:
            self._failed(impl, result, world_id, timing, failures)
            return
        self._kept(impl, result, done, timing, keep_none)

    def run_sync(
        self,
        impls: Sequence[Impl],
        tally: Tally,
        args: tuple[Any, ...],
        world_id: int | None = None,
    ) -> list[Any]:
        """:meth:`run` from synchronous code: an async impl is a failure of its plugin here."""
        impls, timing, failures, limit = self._begin(impls, tally, world_id, None, None)
        done: list[Any] = []
        remaining = iter(impls)
        while (pending := self._step(remaining, args, done, world_id, timing, failures, False, limit)) is not None:
            impl, coro = pending
            coro.close()
            error = TypeError(f"async hookimpl {impl.plugin_id}.{impl.where} cannot run in a synchronous hook call")
            self._failed(impl, error, world_id, timing, failures)
        self._end(impls, world_id, timing, failures)
        return done

    def _step(
        self,
        remaining: Iterator[Impl],
        args: tuple[Any, ...],
        done: list[Any],
        world_id: int | None,
        timing: _Timing | None,
        failures: list[tuple[str, BaseException]] | None,
        keep_none: bool,
        limit: float,
    ) -> tuple[Impl, CoroutineType[Any, Any, Any]] | None:
        """The loop: call the remaining impls until one answers with a coroutine (returned, for the driver).

        Whatever a plugin raises is its failure, BaseException included (SystemExit, KeyboardInterrupt,
        GeneratorExit): nothing here can be the host's own cancellation, which only arrives at an ``await``. An
        impl that returns after the call's deadline overran it: a timeout, its result not used (in-process code
        cannot be stopped, only not believed)."""
        for impl in remaining:
            try:
                result = impl.call(impl.ctx, *args)
            except BaseException as exc:
                self._failed(impl, exc, world_id, timing, failures)
                continue
            if type(result) is CoroutineType:
                return impl, result
            if time.monotonic() > limit:
                self._failed(impl, _overran(impl), world_id, timing, failures)
                continue
            # what _kept does, inline: this is the hot path
            if timing is not None:
                timing.lap(impl.plugin_id)
            if result is not None or keep_none:
                done.append(result)
        return None

    @staticmethod
    def _kept(impl: Impl, result: Any, done: list[Any], timing: _Timing | None, keep_none: bool) -> None:
        if timing is not None:
            timing.lap(impl.plugin_id)
        if result is not None or keep_none:
            done.append(result)

    def _begin(
        self,
        impls: Sequence[Impl],
        tally: Tally,
        world_id: int | None,
        failures: list[tuple[str, BaseException]] | None,
        deadline_ms: float | None,
    ) -> tuple[Sequence[Impl], _Timing | None, list[tuple[str, BaseException]] | None, float]:
        """Count the call; leave out plugins whose breaker is open (rare: only then is a failure list kept, to
        close the half-open ones that pass); start the observer when one watches this call; the deadline (a
        ``time.monotonic()`` instant)."""
        tally.calls += 1
        limit = time.monotonic() + (deadline_ms or self.deadline_ms) / 1000
        if world_id is not None and self.breakers.tripped:
            impls, failures = self._screened(impls, world_id), [] if failures is None else failures
        calls = self._calls = self._calls + 1
        if impls and (self.telemetry.tracer is not None or not calls % SAMPLE_EVERY):
            return impls, self.observer(impls[0], world_id, calls), failures, limit
        return impls, None, failures, limit

    def _end(
        self,
        ran: Sequence[Impl],
        world_id: int | None,
        timing: _Timing | None,
        failures: list[tuple[str, BaseException]] | None,
    ) -> None:
        if timing is not None:
            timing.finish()
        if world_id is not None and self.breakers.tripped and failures is not None:
            self._probation_passed(ran, world_id, failures)

    def _screened(self, impls: Sequence[Impl], world_id: int) -> Sequence[Impl]:
        """``impls`` without the plugins whose breaker is open in ``world_id``."""
        blocked = self.breakers.blocked(world_id)
        if not blocked:
            return impls
        for impl in impls:
            if impl.plugin_id in blocked:
                impl.stats.missed += 1
        return tuple(impl for impl in impls if impl.plugin_id not in blocked)

    def _probation_passed(self, ran: Sequence[Impl], world_id: int, failures: list[tuple[str, BaseException]]) -> None:
        """A half-open breaker closes when its plugin's call succeeded (a failure has opened it again)."""
        half_open = self.breakers.half_open(world_id)
        failed = {plugin_id for plugin_id, _ in failures}
        for impl in ran:
            if impl.plugin_id in half_open and impl.plugin_id not in failed:
                self.breakers.record_success(impl.plugin_id, world_id)

    def _failed(
        self,
        impl: Impl,
        exc: BaseException,
        world_id: int | None,
        timing: _Timing | None,
        failures: list[tuple[str, BaseException]] | None,
    ) -> None:
        if timing is not None:
            timing.lap(impl.plugin_id)
            timing.failed(impl.plugin_id, exc)
        impl.stats.missed += 1
        if failures is not None:
            failures.append((impl.plugin_id, exc))
        self.record_failure(impl.plugin_id, impl.where, outcome_of(exc), exc, world_id)

    # -- behavior extensions ----------------------------------------------------------------------------------
    async def call_extension(
        self, entry: BehaviorEntry, args: tuple[Any, ...], fallback: Any, world: WorldScope | None
    ) -> Any:
        """A registered behavior extension as ``fn(ctx, *args)``, through the one loop: the world's enablement,
        the breakers and the deadline apply; a failure (recorded) or a plugin not taking part gives ``fallback``."""
        impl, tally = self._extension_impl(entry)
        if impl is None:
            return fallback
        world_id = None
        if world is not None:
            if not world.allows(impl.plugin_id):  # the core's built-ins always
                return fallback
            world_id = world.world_id
        # The loop's steps by hand, as run() takes them, but for one impl: this is every condition, effect and
        # scoring factor of every NPC of a tick, so no second coroutine unless the extension is async.
        impls, timing, failures, limit = self._begin(impl.alone, tally, world_id, None, None)
        done: list[Any] = []
        pending = self._step(iter(impls), args, done, world_id, timing, failures, True, limit)
        if pending is not None:
            await self._settle(pending, limit, done, world_id, timing, failures, True)
        self._end(impls, world_id, timing, failures)
        return done[0] if done else fallback

    def _extension_impl(self, entry: BehaviorEntry) -> tuple[Impl | None, Tally]:
        cached = self._extensions.get(entry.id)
        if cached is not None:
            generation, impl, tally = cached
            if generation == self.generation and (impl is None or impl.call is entry.fn):
                return impl, tally
            if impl is not None:
                untallied(impl.alone, tally)
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
        tally = tallied(impl.alone)[1] if impl is not None else Tally()
        self._extensions[entry.id] = (self.generation, impl, tally)
        return impl, tally


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
        self._views: dict[frozenset[str] | None, tuple[tuple[Impl, ...], Tally]] = {}
        self._args = _arguments_getter(self._spec_rest)
        self._ms = contract.deadline_ms

    # -- plan ---------------------------------------------------------------------------------------------
    def plan(self) -> tuple[Impl, ...]:
        dispatcher = self._dispatcher
        if self._plan_generation != dispatcher.generation:
            self._forget_views()
            self._plan = tuple(self._build_plan())
            self._plan_generation = dispatcher.generation
        return self._plan

    def _view(self, world: WorldScope | None) -> tuple[tuple[Impl, ...], Tally]:
        """The plan as a world lets it take part, and its tally (worlds name few distinct sets: each is worked
        out once per plan)."""
        enabled = None if world is None else world.enabled
        if self._plan_generation == self._dispatcher.generation:  # the hot path: nothing changed since
            view = self._views.get(enabled)
            if view is not None:
                return view
        plan = self.plan()
        view = self._views.get(enabled)
        if view is None:
            if len(self._views) > 256:  # a bound, should enablement sets churn
                self._forget_views()
            view = tallied(tuple(i for i in plan if enabled is None or i.plugin_id in enabled))
            self._views[enabled] = view
        return view

    def _forget_views(self) -> None:
        for impls, tally in self._views.values():
            untallied(impls, tally)
        self._views = {}

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
            return self._args(kwargs)
        except KeyError as exc:
            raise TypeError(f"hook {self.name!r} needs argument {exc.args[0]!r}") from None

    # -- calling ------------------------------------------------------------------------------------------
    async def __call__(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        if world is None:
            impls, tally = self._view(None)
            return await self._dispatcher.run(impls, tally, self._spec_args(kwargs), None, deadline_ms=self._ms)
        impls, tally = self._view(world)
        return await self._dispatcher.run(impls, tally, self._spec_args(kwargs), world.world_id, deadline_ms=self._ms)

    def call_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        """Call from synchronous code. An async implementation is a failure of its plugin here."""
        if world is None:
            impls, tally = self._view(None)
            return self._dispatcher.run_sync(impls, tally, self._spec_args(kwargs))
        impls, tally = self._view(world)
        return self._dispatcher.run_sync(impls, tally, self._spec_args(kwargs), world.world_id)

    def collect_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like :meth:`call_sync`, pairing each non-None result with the plugin id (start-up paths, not hot: each
        impl is its own call of the loop, so the hot loop need not know about pairs)."""
        world_id, args = None if world is None else world.world_id, self._spec_args(kwargs)
        pairs: list[tuple[str, Any]] = []
        for impl in self._view(world)[0]:
            impls, tally = tallied(impl.alone)
            try:
                pairs += [
                    (impl.plugin_id, result) for result in self._dispatcher.run_sync(impls, tally, args, world_id)
                ]
            finally:
                untallied(impls, tally)
        return pairs

    def implementers(self) -> tuple[str, ...]:
        """The ids of the registered plugins that implement this hook, whatever their state."""
        return tuple(dict.fromkeys(h.plugin_name for h in self._hookimpls()))

    async def deliver(self, plugin_id: str, *, world: WorldScope, **kwargs: Any) -> Delivery | BaseException:
        """One plugin's impl for one world, as a durable delivery must know the outcome: DELIVERED, ABSENT (the
        plugin does not take part: disabled, quarantined, not enabled in the world, or no impl), BLOCKED (its
        breaker is open in that world), or the exception it failed with (recorded like any failure)."""
        impl = next((i for i in self._view(world)[0] if i.plugin_id == plugin_id), None)
        if impl is None:
            return Delivery.ABSENT
        if world.world_id is not None and plugin_id in self._dispatcher.breakers.blocked(world.world_id):
            return Delivery.BLOCKED
        failures: list[tuple[str, BaseException]] = []
        impls, tally = tallied(impl.alone)
        try:
            await self._dispatcher.run(
                impls, tally, self._spec_args(kwargs), world.world_id, deadline_ms=self._ms, failures=failures
            )
        finally:
            untallied(impls, tally)
        return failures[0][1] if failures else Delivery.DELIVERED

    async def call_plugin(self, plugin_id: str, ctx: object, **kwargs: Any) -> BaseException | None:
        """Call one plugin's impl (lifecycle: whatever its state) through the same loop; its failure, or None
        (also when it does not implement the hook)."""
        hookimpl = next((h for h in self._hookimpls() if h.plugin_name == plugin_id), None)
        if hookimpl is None:
            return None
        failures: list[tuple[str, BaseException]] = []
        impls, tally = tallied(self._impl(hookimpl, ctx).alone)
        try:
            await self._dispatcher.run(
                impls, tally, self._spec_args(kwargs), deadline_ms=self.contract.deadline_ms, failures=failures
            )
        finally:
            untallied(impls, tally)
        return failures[0][1] if failures else None


def _arguments_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``kwargs`` → the spec's arguments in order; the common shapes without a comprehension (one per call)."""
    if not names:
        return lambda kwargs: ()
    if len(names) == 1:
        (name,) = names
        return lambda kwargs: (kwargs[name],)
    return lambda kwargs: tuple([kwargs[name] for name in names])


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

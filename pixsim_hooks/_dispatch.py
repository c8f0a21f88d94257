"""Isolated hook dispatch: every hookimpl runs on its own, with its plugin's context injected.

pluggy stays the registry and the contract; calling runs our own loop over ``get_hookimpls()`` (in pluggy's call
order) because that is both faster and the only way to isolate each implementation: an exception, a
``PermissionDenied`` or a missed deadline is recorded against that plugin and the call goes on with the rest.
Async implementations are awaited in order (not gathered) under one deadline per hook call. In-process deadlines
cannot stop CPU-bound code; out-of-process runtimes can.

The plan of a hook (which implementations, with which context) is rebuilt only when the host's registrations or
enablement change. With tracing off the hot path makes no OpenTelemetry call at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode

from hookspecs import HookContract
from pixsim_hooks._exceptions import HookDeadlineExceeded, PermissionDenied
from pixsim_hooks._health import Outcome
from pixsim_hooks._telemetry import (
    ATTR_DURATIONS,
    ATTR_HOOK,
    ATTR_OUTCOME,
    ATTR_PLUGIN,
    ATTR_PLUGINS,
    ATTR_WORLD,
    SAMPLE_EVERY,
)
from pixsim_hooks._world import WorldScope

if TYPE_CHECKING:
    from pixsim_hooks._host import PluginHost

__all__ = ["HookCaller", "HookRelay", "Impl", "ImplStats", "await_by", "outcome_of"]


_NONE: frozenset[str] = frozenset()


class ImplStats:
    """Successful calls of one plugin's impl of one hook; a plain counter, exported by an observable metric."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


@dataclass(frozen=True, slots=True)
class Impl:
    """One hookimpl ready to call: ``fn(ctx, *args)`` when ``fast``, else arguments picked by name."""

    plugin_id: str
    fn: Callable[..., Any]
    ctx: object
    argnames: tuple[str, ...]
    fast: bool
    stats: ImplStats

    def args(self, spec_args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if self.fast:
            return (self.ctx, *spec_args)
        return tuple(self.ctx if name == "ctx" else kwargs[name] for name in self.argnames)


@dataclass(frozen=True, slots=True)
class _Gate:
    """Who may take part in one hook call: the world's enabled set (None = all) minus plugins whose breaker for
    that world is open; ``half_open`` plugins run on probation (their success closes the breaker)."""

    world_id: int | None
    enabled: frozenset[str] | None
    blocked: frozenset[str]
    half_open: frozenset[str]

    def excludes(self, plugin_id: str) -> bool:
        return plugin_id in self.blocked or (self.enabled is not None and plugin_id not in self.enabled)


_OPEN_GATE = _Gate(None, None, _NONE, _NONE)


def outcome_of(exc: BaseException) -> Outcome:
    if isinstance(exc, PermissionDenied):
        return Outcome.DENIED
    # Only the host's deadline is a timeout: a TimeoutError the plugin raised itself (its upstream timed out) is
    # its error, and counting it as a timeout would send operators to raise a deadline that was never hit.
    if isinstance(exc, HookDeadlineExceeded):
        return Outcome.TIMEOUT
    return Outcome.ERROR


class HookCaller:
    """``host.hook.<name>``: ``await caller(world=scope, **kwargs)`` or ``caller.call_sync(...)``.

    Returns the non-None results of the implementations that succeeded, in call order. ``world`` (a
    :class:`WorldScope`) limits the call to plugins that world has enabled (and whose circuit breaker for that world
    is not open) and tags records and spans with it.
    """

    def __init__(self, host: PluginHost, name: str, contract: HookContract, spec_argnames: Sequence[str]) -> None:
        self.name = name
        self.contract = contract
        self._host = host
        self._spec_rest = tuple(a for a in spec_argnames if a != "ctx")
        self._plan: tuple[Impl, ...] = ()
        self._plan_generation = -1
        self._calls = 0

    # -- plan ---------------------------------------------------------------------------------------------
    def plan(self) -> tuple[Impl, ...]:
        host = self._host
        if self._plan_generation != host.generation:
            self._plan = tuple(self._build_plan())
            self._plan_generation = host.generation
        return self._plan

    def _build_plan(self) -> list[Impl]:
        impls = []
        for hookimpl in reversed(getattr(self._host.pm.hook, self.name).get_hookimpls()):  # pluggy's call order
            ctx = self._host.dispatch_context(hookimpl.plugin_name, self.name)
            if ctx is None:
                continue
            argnames = tuple(hookimpl.argnames)
            fast = argnames == ("ctx", *self._spec_rest)
            stats = self._host.impl_stats(hookimpl.plugin_name, self.name)
            impls.append(Impl(hookimpl.plugin_name, hookimpl.function, ctx, argnames, fast, stats))
        return impls

    def _gate_parts(
        self, world: WorldScope | None
    ) -> tuple[int | None, frozenset[str] | None, frozenset[str], frozenset[str]]:
        """(world id, enabled, blocked, half-open) as a plain tuple: the fast loops' gate, built without an object."""
        if world is None:
            return None, None, _NONE, _NONE
        world_id = world.world_id
        if world_id is None or not self._host.breakers.any_tripped:
            return world_id, world.enabled, _NONE, _NONE
        breakers = self._host.breakers
        return world_id, world.enabled, breakers.blocked(world_id), breakers.half_open(world_id)

    def _gate(self, world: WorldScope | None) -> _Gate:
        if world is None:
            return _OPEN_GATE
        if world.world_id is None or not self._host.breakers.any_tripped:
            return _Gate(world.world_id, world.enabled, _NONE, _NONE)
        breakers = self._host.breakers
        world_id = world.world_id
        return _Gate(world_id, world.enabled, breakers.blocked(world_id), breakers.half_open(world_id))

    def _participants(self, world: WorldScope | None) -> list[Impl]:
        gate = self._gate(world)
        return [impl for impl in self.plan() if not gate.excludes(impl.plugin_id)]

    def _spec_args(self, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple(kwargs[a] for a in self._spec_rest)
        except KeyError as exc:
            raise TypeError(f"hook {self.name!r} needs argument {exc.args[0]!r}") from None

    # -- calling: the fast loops --------------------------------------------------------------------------------
    def call_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        """Call from synchronous code. An async implementation is a failure of its plugin here."""
        self._calls += 1
        if self._host.telemetry.tracer is not None or not self._calls % SAMPLE_EVERY:
            return self._instrumented_sync(world, kwargs)
        spec_args = self._spec_args(kwargs)
        # The hot path: the gate's parts as locals and the success bookkeeping inline (a method call per impl
        # would cost more than the impl itself).
        world_id, enabled, blocked, half_open = self._gate_parts(world)
        results: list[Any] = []
        for impl in self.plan():
            pid = impl.plugin_id
            if pid in blocked or (enabled is not None and pid not in enabled):
                continue
            try:
                result = impl.fn(*impl.args(spec_args, kwargs))
            except Exception as exc:
                self._failed(impl, exc, world)
                continue
            if type(result) is CoroutineType:
                self._sync_got_coroutine(impl, result, world)
                continue
            impl.stats.calls += 1
            if half_open and pid in half_open:
                self._host.breakers.record_success(pid, world_id)  # type: ignore[arg-type]
            if result is not None:
                results.append(result)
        return results

    async def __call__(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[Any]:
        self._calls += 1
        if self._host.telemetry.tracer is not None or not self._calls % SAMPLE_EVERY:
            return await self._instrumented_async(world, kwargs)
        spec_args = self._spec_args(kwargs)
        world_id, enabled, blocked, half_open = self._gate_parts(world)
        results: list[Any] = []
        deadline: float | None = None
        for impl in self.plan():
            pid = impl.plugin_id
            if pid in blocked or (enabled is not None and pid not in enabled):
                continue
            try:
                result = impl.fn(*impl.args(spec_args, kwargs))
                if type(result) is CoroutineType:
                    deadline = deadline or self.deadline()
                    result = await await_by(result, deadline)
            except Exception as exc:
                self._failed(impl, exc, world)
                continue
            impl.stats.calls += 1
            if half_open and pid in half_open:
                self._host.breakers.record_success(pid, world_id)  # type: ignore[arg-type]
            if result is not None:
                results.append(result)
        return results

    def collect_sync(self, *, world: WorldScope | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Like :meth:`call_sync`, pairing each non-None result with the plugin id (start-up paths, not hot)."""
        spec_args = self._spec_args(kwargs)
        pairs: list[tuple[str, Any]] = []
        for impl in self._participants(world):
            try:
                result = impl.fn(*impl.args(spec_args, kwargs))
            except Exception as exc:
                self._failed(impl, exc, world)
                continue
            if type(result) is CoroutineType:
                self._sync_got_coroutine(impl, result, world)
            elif result is not None:
                pairs.append((impl.plugin_id, result))
        return pairs

    def deadline(self) -> float:
        ms = self.contract.deadline_ms or self._host.settings.hook_deadline_ms
        return asyncio.get_running_loop().time() + ms / 1000

    # -- outcomes -----------------------------------------------------------------------------------------
    def _succeeded(self, impl: Impl, gate: _Gate) -> None:
        impl.stats.calls += 1
        if gate.half_open and impl.plugin_id in gate.half_open:
            assert gate.world_id is not None
            self._host.breakers.record_success(impl.plugin_id, gate.world_id)

    def _failed(self, impl: Impl, exc: BaseException, world: WorldScope | None) -> None:
        world_id = world.world_id if world is not None else None
        self._host.record_failure(impl.plugin_id, self.name, outcome_of(exc), exc, world_id)

    def _sync_got_coroutine(self, impl: Impl, coro: Any, world: WorldScope | None) -> None:
        coro.close()
        exc = TypeError(f"async hookimpl {impl.plugin_id}.{self.name} cannot run in a synchronous hook call")
        self._failed(impl, exc, world)

    # -- calling: the instrumented loops -------------------------------------------------------------------------
    # Per-impl wall time, for the duration histogram (1 call in SAMPLE_EVERY when tracing is off) and, with tracing
    # on, one span per hook call. An SDK span costs ~15 us here and a span event ~5 us, so per-impl results are
    # gathered as integers and written once, as two compact string attributes; only failures add an (exception)
    # event. The span is not made current: attaching a context would cost as much again.
    def _start_span(self, world: WorldScope | None) -> Any:
        tracer = self._host.telemetry.tracer
        if tracer is None:
            return None
        attributes: dict[str, Any] = {ATTR_HOOK: self.name}
        if world is not None and world.world_id is not None:
            attributes[ATTR_WORLD] = world.world_id
        span = tracer.start_span(f"pixsim.hook.{self.name}", attributes=attributes)
        if span.is_recording():
            return span
        span.end()  # the sampler dropped it: time the impls, write nothing
        return None

    def _instrumented_sync(self, world: WorldScope | None, kwargs: dict[str, Any]) -> list[Any]:
        span = self._start_span(world)
        timing = _Timing()
        try:
            spec_args = self._spec_args(kwargs)
            gate = self._gate(world)
            results: list[Any] = []
            for impl in self.plan():
                if gate.excludes(impl.plugin_id):
                    continue
                try:
                    result = impl.fn(*impl.args(spec_args, kwargs))
                    if type(result) is CoroutineType:
                        result.close()
                        raise TypeError(f"async hookimpl {impl.plugin_id}.{self.name} in a synchronous hook call")
                except Exception as exc:
                    timing.lap(impl.plugin_id)
                    self._instrumented_failure(span, impl, exc, world)
                    continue
                timing.lap(impl.plugin_id)
                self._succeeded(impl, gate)
                if result is not None:
                    results.append(result)
            return results
        finally:
            self._finish(span, timing)

    async def _instrumented_async(self, world: WorldScope | None, kwargs: dict[str, Any]) -> list[Any]:
        span = self._start_span(world)
        timing = _Timing()
        try:
            spec_args = self._spec_args(kwargs)
            gate = self._gate(world)
            results: list[Any] = []
            deadline: float | None = None
            for impl in self.plan():
                if gate.excludes(impl.plugin_id):
                    continue
                try:
                    result = impl.fn(*impl.args(spec_args, kwargs))
                    if type(result) is CoroutineType:
                        deadline = deadline or self.deadline()
                        result = await await_by(result, deadline)
                except Exception as exc:
                    timing.lap(impl.plugin_id)
                    self._instrumented_failure(span, impl, exc, world)
                    continue
                timing.lap(impl.plugin_id)
                self._succeeded(impl, gate)
                if result is not None:
                    results.append(result)
            return results
        finally:
            self._finish(span, timing)

    def _finish(self, span: Any, timing: _Timing) -> None:
        self._host.telemetry.record_durations(self.name, timing.ids, timing.laps)
        if span is not None:
            timing.write(span)
            span.end()

    def _instrumented_failure(self, span: Any, impl: Impl, exc: BaseException, world: WorldScope | None) -> None:
        if span is not None:
            outcome = outcome_of(exc)
            span.record_exception(exc, attributes={ATTR_PLUGIN: impl.plugin_id, ATTR_OUTCOME: outcome.value})
            span.set_status(Status(StatusCode.ERROR, f"{impl.plugin_id}: {outcome.value}"))
        self._failed(impl, exc, world)


class _Timing:
    """Per-impl wall time of one hook call: one clock read per impl (each lap ends the previous one)."""

    __slots__ = ("_last", "ids", "laps")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.laps: list[int] = []
        self._last = time.perf_counter_ns()

    def lap(self, plugin_id: str) -> None:
        now = time.perf_counter_ns()
        self.ids.append(plugin_id)
        self.laps.append(now - self._last)
        self._last = now

    def write(self, span: Any) -> None:
        # One call (each takes the span's lock and validates every value); a single plugin gets pixsim.plugin.id.
        ids = self.ids[0] if len(self.ids) == 1 else ",".join(self.ids)
        span.set_attributes(
            {ATTR_PLUGIN if len(self.ids) == 1 else ATTR_PLUGINS: ids, ATTR_DURATIONS: ",".join(map(str, self.laps))}
        )


async def await_by(coro: Any, deadline: float) -> Any:
    """Await one plugin coroutine under the hook call's deadline."""
    try:
        async with asyncio.timeout_at(deadline):
            return await coro
    except TimeoutError as exc:
        if asyncio.get_running_loop().time() >= deadline:
            raise HookDeadlineExceeded("hook call deadline exceeded") from exc
        raise


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

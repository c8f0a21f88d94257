"""``python -m bench.mutants``: inject hand-written bugs into security- and correctness-critical code, one at a time,
and check that the test suite notices each of them.

Every mutant is a literal replacement in one file (its ``old`` text must occur exactly once there, so a mutant that no
longer matches the code fails loudly instead of passing), and the tests that should catch it. The run works on a
scratch copy of the working tree with its own virtualenv, so the checkout is never touched: the copy is what the
sandboxed children import, as they would in a real installation. A mutant is *caught* when its tests fail and
*survives* when they pass; ``--json`` prints one object per mutant.

    python -m bench.mutants                 # all of them (about 10 minutes here)
    python -m bench.mutants --only proxy.   # those whose id starts with "proxy." (or several: a.,b.)
    python -m bench.mutants --list

Exit code: 0 when every mutant was caught, 1 when one survived, 2 when a mutant no longer matches the code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One injected bug: in ``path``, ``old`` becomes ``new``; ``tests`` are the pytest arguments that must fail."""

    id: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


def m(id: str, path: str, old: str, new: str, *tests: str, why: str) -> Mutant:
    return Mutant(id, path, old, new, tests, why)


CORE = ("tests/plugin", "tests/host", "tests/runtime", "tests/telemetry")
PROXIES = "tests/proxies"
PROTOCOL = "tests/protocol"
BACKEND = "tests/backend"
CONTRIB = "tests/contrib_plugins"

MUTANTS: tuple[Mutant, ...] = (
    # -- proxies: the allowlist and what a plugin may reach through a proxy (red-team 1-9) ---------------------------
    m(
        "proxy.denied_member_forwards",
        "proxies/_proxy.py",
        "        del _get  # a denial's traceback must not lead back to the member table\n"
        "        raise type(self)._proxy_scope.deny(name)  # type: ignore[attr-defined]",
        "        return getattr(wrapped_of(self), name)",
        PROXIES,
        why="a member outside the allowlist is read from the target instead of denied",
    ),
    m(
        "proxy.setattr_allowed",
        "proxies/_hardened.py",
        "    def __setattr__(self, name: str, value: object) -> NoReturn:\n        raise _scope(self).deny(name, grantable=False)",
        "    def __setattr__(self, name: str, value: object) -> None:\n        setattr(wrapped_of(self), name, value)",
        PROXIES,
        why="assigning through a proxy writes to the target",
    ),
    m(
        "proxy.class_is_the_targets",
        "proxies/_hardened.py",
        '        if name == "__class__":\n            return type(self)',
        '        if name == "__class__":\n            return type(wrapped_of(self))',
        PROXIES,
        why="__class__ read through the proxy's gate gives the target's class",
    ),
    m(
        "proxy.pickling_forwarded",
        "proxies/_hardened.py",
        "DENIED = frozenset(_WRAPT.keys() | _EXTRA) - IMPLEMENTED - CLASS_MACHINERY",
        'DENIED = frozenset(_WRAPT.keys() | _EXTRA) - IMPLEMENTED - CLASS_MACHINERY - {"__reduce__", "__reduce_ex__"}',
        PROXIES,
        why="pickle / copy of a proxy reach wrapt's own reduction instead of a denial",
    ),
    m(
        "proxy.private_member_grantable",
        "proxies/_proxy.py",
        '    if name.startswith("_") and name not in PROTOCOL:',
        '    if name.startswith("__") and name not in PROTOCOL:',
        PROXIES,
        *CORE,
        why="a private member (single underscore) could be put on an allowlist",
    ),
    m(
        "sealed.raised_inside_except",
        "proxies/_sealed.py",
        "            error = sanitize(exc, call)",
        "            raise sanitize(exc, call)  # noqa: B904",
        PROXIES,
        why="the sanitized error is raised while handling the host's: the host error becomes its __context__ (item 8)",
    ),
    m(
        "sealed.subclass_message_passes",
        "proxies/_sanitize.py",
        "    elif cls in _MESSAGE_SAFE:",
        "    elif isinstance(exc, tuple(_MESSAGE_SAFE)):",
        PROXIES,
        why="a ValueError subclass (pydantic's ValidationError, echoing input) crosses with its message",
    ),
    m(
        "sealed.coroutine_handed_out",
        "proxies/_sealed.py",
        "            if not isinstance(result, _HOST_AWAITABLES):",
        "            if True:",
        PROXIES,
        why="an async capability hands the host's coroutine to the plugin (red-team 9)",
    ),
    # -- permissions and the context -----------------------------------------------------------------------------
    m(
        "permissions.read_grants_write",
        "pixsim_hooks/plugin/_permissions.py",
        'Permission.SESSION_READ: {"session": frozenset({"get_session", "get_flag"})},',
        'Permission.SESSION_READ: {"session": frozenset({"get_session", "get_flag", "set_flag"})},',
        *CORE,
        PROXIES,
        why="session:read also unlocks set_flag",
    ),
    m(
        "permissions.unknown_group_expands",
        "pixsim_hooks/plugin/_permissions.py",
        '        elif rest == "*" and group in groups:',
        '        elif rest == "*":',
        *CORE,
        why="'*:*' or an unknown group's wildcard grants something (or crashes)",
    ),
    m(
        "context.grants_every_member",
        "pixsim_hooks/plugin/_context.py",
        "        grants = {m: p.value for p in permissions for m in p.members.get(capability, ())}",
        "        grants = {m: p.value for p in Permission for m in p.members.get(capability, ())}",
        *CORE,
        why="every plugin's proxies grant every permission's members",
    ),
    # -- capabilities: namespaces, values, world enablement (red-team 19, 20) ------------------------------------------
    m(
        "capability.foreign_namespace_allowed",
        "pixsim_hooks/plugin/_capabilities.py",
        '    if str.startswith(key, "plugin:"):  # another plugin\'s namespace (red-team item 19)\n'
        "        raise NamespaceViolation(plugin_id, capability, member, key)",
        '    if str.startswith(key, "plugin:"):\n        return key',
        *CORE,
        CONTRIB,
        why="a plugin writes plugin:<other>:x",
    ),
    m(
        "capability.key_type_trusted",
        "pixsim_hooks/plugin/_capabilities.py",
        "    if type(key) is not str or not key or len(key) > 200:",
        "    if not isinstance(key, str) or not key or len(key) > 200:",
        *CORE,
        why="a str subclass key whose startswith lies is let through (red-team 36)",
    ),
    m(
        "capability.prefix_namespace_confusion",
        "pixsim_hooks/plugin/_capabilities.py",
        '    own = f"plugin:{plugin_id}:"',
        '    own = f"plugin:{plugin_id}"',
        *CORE,
        why="plugin 'stealth' may write plugin:stealthy:x (ids that share a prefix)",
    ),
    m(
        "capability.non_finite_json",
        "pixsim_hooks/plugin/_capabilities.py",
        '_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_frozen_items)',
        '_ENCODER = json.JSONEncoder(allow_nan=True, separators=(",", ":"), default=_frozen_items)',
        *CORE,
        BACKEND,
        why="NaN / Infinity written into session flags",
    ),
    m(
        "capability.value_size_unbounded",
        "pixsim_hooks/plugin/_capabilities.py",
        "    if len(text) > MAX_VALUE_BYTES:",
        "    if len(text) > 100 * MAX_VALUE_BYTES:",
        *CORE,
        why="a flag value over 64 KiB is accepted",
    ),
    m(
        "capability.relationship_bound",
        "pixsim_hooks/plugin/_capabilities.py",
        "MAX_RELATIONSHIP_DELTA = 100.0",
        "MAX_RELATIONSHIP_DELTA = 1000.0",
        *CORE,
        BACKEND,
        why="adjust_relationship (capability and effect writer) accepts |delta| over 100",
    ),
    m(
        "capability.npc_key_unicode_digits",
        "pixsim_hooks/plugin/_capabilities.py",
        '_NPC_KEY = re.compile(r"npc:(?:0|[1-9][0-9]{0,17})", re.ASCII)',
        '_NPC_KEY = re.compile(r"npc:\\d+")',
        *CORE,
        why="npc keys with non-ASCII digits or leading zeros name another relationship entry (red-team 36)",
    ),
    m(
        "capability.unknown_metric",
        "pixsim_hooks/plugin/_capabilities.py",
        "    if type(metric) is not str or metric not in RELATIONSHIP_METRICS:",
        "    if type(metric) is not str:",
        *CORE,
        BACKEND,
        why="a relationship metric outside the four is written",
    ),
    m(
        "capability.world_not_checked",
        "pixsim_hooks/plugin/_capabilities.py",
        "        await self._check_world(self._plugin_id, session.world_id)\n        return await self._storage.sessions.apply_change(session_id, change)",
        "        return await self._storage.sessions.apply_change(session_id, change)",
        *CORE,
        BACKEND,
        CONTRIB,
        why="a plugin writes to a session of a world that has not enabled it (red-team 20)",
    ),
    m(
        "capability.requested_by_from_caller",
        "pixsim_hooks/plugin/_capabilities.py",
        '            requested_by=f"plugin:{self._plugin_id}",',
        '            requested_by=str((params or {}).get("requested_by", f"plugin:{self._plugin_id}")),',
        *CORE,
        BACKEND,
        why="a plugin's generation request claims to come from someone else",
    ),
    m(
        "capability.get_flag_unscoped",
        "pixsim_hooks/plugin/_capabilities.py",
        '        full = self._key(key, "get_flag")\n        session = await self._require(session_id)\n        return session.flags.get(full, default)',
        "        session = await self._require(session_id)\n        return session.flags.get(key, default)",
        *CORE,
        CONTRIB,
        why="get_flag reads any top-level flag, not the plugin's own",
    ),
    # -- behavior registry and the effect writer (red-team 21, 25) ------------------------------------------------------
    m(
        "behavior.foreign_extension_namespace",
        "pixsim_hooks/plugin/_behavior.py",
        "        if \":\" in local:  # a foreign namespace: another plugin's or the core's (red-team item 25)\n"
        '            exc = NamespaceViolation(self._plugin_id, "behavior", member, name)\n'
        "            self._report(exc)\n"
        "            raise exc",
        '        if ":" in local:\n            return local',
        *CORE,
        BACKEND,
        why="a plugin registers an extension under another plugin's or the core's namespace",
    ),
    m(
        "behavior.name_pattern_loose",
        "pixsim_hooks/plugin/_behavior.py",
        '_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}", re.ASCII)',
        '_NAME = re.compile(r"[a-z][a-z0-9_:]{0,62}", re.ASCII)',
        *CORE,
        BACKEND,
        why="extension names may contain ':' and so forge a namespace",
    ),
    m(
        "behavior.duplicate_registration_replaces",
        "pixsim_hooks/plugin/_behavior.py",
        '        if key in self._entries:\n            raise ValueError(f"{entry.kind} {entry.id!r} is already registered")\n',
        "",
        *CORE,
        BACKEND,
        why="registering an id twice silently replaces the first function",
    ),
    m(
        "writer.usable_after_seal",
        "pixsim_hooks/plugin/_behavior_types.py",
        "        if self._closed:\n            raise WriterClosed(",
        "        if False:\n            raise WriterClosed(",
        *CORE,
        BACKEND,
        why="an effect keeps its writer and writes after its call returned",
    ),
    m(
        "writer.relationship_checks_skipped",
        "pixsim_hooks/plugin/_behavior_types.py",
        "        npc_key, metric, amount = checked_relationship(npc_key, metric, delta, MAX_RELATIONSHIP_DELTA)",
        "        amount = float(delta)",
        *CORE,
        BACKEND,
        why="an effect stages any relationship key, metric or delta",
    ),
    # -- world scoping (decision 8) --------------------------------------------------------------------------------------
    m(
        "world.malformed_enables_all",
        "pixsim_hooks/host/_world.py",
        "    return frozenset()\n",
        "    return None\n",
        *CORE,
        BACKEND,
        why="malformed enabledPlugins enables every plugin instead of none (fail open)",
    ),
    m(
        "world.core_filtered",
        "pixsim_hooks/host/_world.py",
        "        return self.enabled is None or plugin_id in self.enabled or plugin_id == CORE_PLUGIN_ID",
        "        return self.enabled is None or plugin_id in self.enabled",
        *CORE,
        BACKEND,
        why="a world's plugin list filters out the core's built-ins",
    ),
    # -- loading policy (decision 4) -----------------------------------------------------------------------------------
    m(
        "policy.community_in_process",
        "pixsim_hooks/host/_loading.py",
        "    if (isolation or manifest.isolation) is Isolation.IN_PROCESS and trust is Trust.COMMUNITY:",
        "    if (isolation or manifest.isolation) is Isolation.IN_PROCESS and trust is Trust.COMMUNITY and False:",
        *CORE,
        why="a community plugin is run in the host's process",
    ),
    m(
        "policy.unvouched_trust_counts",
        "pixsim_hooks/host/_loading.py",
        "        trust = Trust.COMMUNITY  # the operator has not vouched for this plugin: its own claim does not count",
        "        pass",
        *CORE,
        why="a plugin's own first_party claim counts although PIXSIM_PLUGINS_TRUSTED does not name it",
    ),
    m(
        "policy.deny_ignored",
        "pixsim_hooks/host/_loading.py",
        '    if name in settings.plugins_deny:\n        return "denied by PIXSIM_PLUGINS_DENY"',
        '    if name in settings.plugins_deny and False:\n        return "denied by PIXSIM_PLUGINS_DENY"',
        *CORE,
        BACKEND,
        why="PIXSIM_PLUGINS_DENY is ignored",
    ),
    m(
        "policy.unvouched_imported",
        "pixsim_hooks/host/_loading.py",
        "        elif ep.group == ISOLATED_ENTRY_POINT_GROUP or not vouched(ep, settings):",
        "        elif ep.group == ISOLATED_ENTRY_POINT_GROUP:",
        *CORE,
        why="an in-process entry point nobody vouched for is imported into the host (red-team 31)",
    ),
    # -- the host: hooks a plugin may implement, quarantine ----------------------------------------------------------
    m(
        "host.hook_permission_ignored",
        "pixsim_hooks/host/_host.py",
        "            if contract.permission is not None and contract.permission not in entry.permissions:",
        "            if False:",
        *CORE,
        BACKEND,
        why="a plugin without event:subscribe still receives events",
    ),
    m(
        "host.quarantine_keeps_extensions",
        "pixsim_hooks/host/_host.py",
        "        self.behavior.withdraw(pid)\n        self._changed()",
        "        self._changed()",
        *CORE,
        BACKEND,
        why="a quarantined plugin's conditions and effects keep running",
    ),
    m(
        "host.disabled_still_dispatched",
        "pixsim_hooks/host/_host.py",
        "        if entry is None or entry.state is not PluginState.ENABLED or hook in entry.ignored_hooks:",
        "        if entry is None or hook in entry.ignored_hooks:",
        *CORE,
        BACKEND,
        why="a globally disabled plugin still takes part in dispatch",
    ),
    # -- dispatch: isolation, world gate, breakers, deadlines -------------------------------------------------------------
    m(
        "dispatch.world_gate_open",
        "pixsim_hooks/host/_dispatch.py",
        "            view = tallied(tuple(i for i in plan if enabled is None or i.plugin_id in enabled))",
        "            view = tallied(tuple(plan))",
        *CORE,
        BACKEND,
        why="a plugin the world did not enable takes part in that world's hook calls",
    ),
    m(
        "dispatch.extension_world_gate_open",
        "pixsim_hooks/host/_dispatch.py",
        "            if not world.allows(impl.plugin_id):  # the core's built-ins always",
        "            if False:",
        *CORE,
        BACKEND,
        why="a condition of a plugin the world did not enable runs in that world",
    ),
    m(
        "dispatch.timeout_is_an_error",
        "pixsim_hooks/host/_dispatch.py",
        "    if isinstance(exc, HookDeadlineExceeded):\n        return Outcome.TIMEOUT",
        "    if isinstance(exc, HookDeadlineExceeded):\n        return Outcome.ERROR",
        *CORE,
        why="a missed deadline is recorded as an error, not a timeout",
    ),
    m(
        "dispatch.deadline_per_call",
        "pixsim_hooks/host/_dispatch.py",
        "            finished, _ = await asyncio.wait((task,), timeout=max(0.0, limit - time.monotonic()))",
        "            finished, _ = await asyncio.wait((task,), timeout=self.deadline_ms / 1000)",
        *CORE,
        why="each async impl gets a deadline of its own instead of one per hook call",
    ),
    m(
        "dispatch.sync_overrun_believed",
        "pixsim_hooks/host/_dispatch.py",
        "            if time.monotonic() > limit:",
        "            if False:",
        *CORE,
        why="a synchronous impl that overran the deadline counts as a success (red-team 33)",
    ),
    m(
        "dispatch.base_exception_escapes",
        "pixsim_hooks/host/_dispatch.py",
        "            except BaseException as exc:\n                self._failed(impl, exc, world_id, timing, failures)\n                continue",
        "            except Exception as exc:\n                self._failed(impl, exc, world_id, timing, failures)\n                continue",
        *CORE,
        why="SystemExit / KeyboardInterrupt from a plugin's hook escapes the host (red-team 32)",
    ),
    m(
        "dispatch.breaker_ignored",
        "pixsim_hooks/host/_dispatch.py",
        "        return tuple(impl for impl in impls if impl.plugin_id not in blocked)",
        "        return impls",
        *CORE,
        BACKEND,
        why="a plugin whose breaker is open in a world is still called there",
    ),
    m(
        "breaker.never_opens",
        "pixsim_hooks/host/_breaker.py",
        "            breaker.state is BreakerState.CLOSED and len(breaker.failures) >= self._threshold",
        "            breaker.state is BreakerState.CLOSED and len(breaker.failures) > 10 * self._threshold",
        *CORE,
        BACKEND,
        why="the breaker opens only after ten times its threshold",
    ),
    m(
        "breaker.half_open_failure_closes",
        "pixsim_hooks/host/_breaker.py",
        "        if breaker.state is BreakerState.HALF_OPEN or (",
        "        if (",
        *CORE,
        why="a failure on probation does not open the breaker again",
    ),
    # -- the protocol: what the host believes (red-team 23, 24, 27) -------------------------------------------------
    m(
        "protocol.duplicate_keys",
        "pixsim_hooks/runtime/_protocol.py",
        "    if len(result) != len(pairs):",
        "    if False:",
        PROTOCOL,
        *CORE,
        why="a message with duplicate keys is believed (the last value wins)",
    ),
    m(
        "protocol.depth_unchecked",
        "pixsim_hooks/runtime/_protocol.py",
        '            if levels_left < 1:\n                return "nested too deeply"',
        '            if levels_left < -1000:\n                return "nested too deeply"',
        PROTOCOL,
        *CORE,
        why="a message nested deeper than the limit is believed",
    ),
    m(
        "protocol.infinity_accepted",
        "pixsim_hooks/runtime/_protocol.py",
        '        elif kind is float and not math.isfinite(child):\n            return "a number is not finite"',
        '        elif kind is float and math.isnan(child):\n            return "a number is not finite"',
        PROTOCOL,
        *CORE,
        why="1e400 (infinity) in a plugin's answer is believed",
    ),
    m(
        "isolated.answer_for_another_call",
        "pixsim_hooks/runtime/_isolated.py",
        "        if isinstance(reply, Result) and reply.id == call_id:",
        "        if isinstance(reply, Result):",
        PROTOCOL,
        *CORE,
        why="an answer naming another request is taken as this call's answer",
    ),
    m(
        "isolated.cap_request_replay",
        "pixsim_hooks/runtime/_isolated.py",
        "            if reply.call != call_id or reply.id <= self._last_cap:",
        "            if reply.call != call_id:",
        PROTOCOL,
        *CORE,
        why="a replayed capability request is carried out again",
    ),
    m(
        "isolated.item_count_unchecked",
        "pixsim_hooks/runtime/_isolated.py",
        "            if len(reply.results) != len(items):\n",
        "            if False:\n",
        PROTOCOL,
        *CORE,
        why="an answer with fewer results than items is spread over the wrong callers",
    ),
    m(
        "sandbox.environment_inherited",
        "pixsim_hooks/runtime/_sandbox.py",
        '        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self._workdir, "PYTHONDONTWRITEBYTECODE": "1"}',
        '        env = {**os.environ, "HOME": self._workdir, "PYTHONDONTWRITEBYTECODE": "1"}',
        "tests/runtime/test_sandbox.py",
        why="a sandboxed child inherits the host's environment and its secrets (red-team 16)",
    ),
    m(
        "child.open_files_unlimited",
        "pixsim_hooks/runtime/_child.py",
        '    _limit(resource.RLIMIT_NOFILE, limits["open_files"])',
        "    pass",
        "tests/runtime/test_sandbox.py",
        why="a sandboxed child may open files without limit (red-team 15)",
    ),
    m(
        "child.cpu_unlimited",
        "pixsim_hooks/runtime/_child.py",
        '    _limit(resource.RLIMIT_CPU, limits["cpu_seconds"])',
        "    pass",
        "tests/runtime/test_sandbox.py",
        why="a sandboxed child has no CPU-time limit",
    ),
    # -- remote plugins: signatures and replay -------------------------------------------------------------------------
    m(
        "remote.answer_signature_unchecked",
        "pixsim_hooks/runtime/_remote.py",
        "        if not same_signature(signature, sign_response(self._secret, request_id, answer)):",
        "        if False:",
        "tests/runtime/test_remote.py",
        why="an unsigned or forged answer from a remote is believed",
    ),
    m(
        "remote.replay_accepted",
        "pixsim_hooks/runtime/_remote_server.py",
        '        if request_id in self._expiry:\n            return "replayed request id"',
        '        if False:\n            return "replayed request id"',
        "tests/runtime/test_remote.py",
        why="a replayed signed request is carried out again",
    ),
    m(
        "remote.skew_unchecked",
        "pixsim_hooks/runtime/_remote_server.py",
        "    if abs(now - int(timestamp)) > max_skew_s:",
        "    if False:",
        "tests/runtime/test_remote.py",
        why="a signed request with an old timestamp is accepted",
    ),
    # -- immutable values (red-team 34) ------------------------------------------------------------------------------
    m(
        "frozen.class_swap_allowed",
        "pixsim_hooks/plugin/_frozen.py",
        "    @property  # type: ignore[misc]\n    def __class__(self) -> type:",
        "    @property\n    def _not_class(self) -> type:",
        "tests/plugin/test_frozen.py",
        why="a frozen value's class can be swapped for a look-alike that reaches its storage",
    ),
    m(
        "frozen.items_slot_settable",
        "pixsim_hooks/plugin/_frozen.py",
        "del FrozenDict._items  # type: ignore[attr-defined]",
        "pass",
        "tests/plugin/test_frozen.py",
        why="object.__setattr__ replaces a FrozenDict's items",
    ),
    m(
        "frozen.fields_settable",
        "pixsim_hooks/plugin/_frozen.py",
        "            type.__setattr__(cls, name, field_property)",
        "            pass",
        "tests/plugin/test_frozen.py",
        "tests/backend/test_shared_values.py",
        why="object.__setattr__ changes a snapshot, event or view that other plugins read",
    ),
    m(
        "frozen.init_again",
        "pixsim_hooks/plugin/_frozen.py",
        "                f\"        raise _TypeError('{cls.__name__} is immutable: build a new one (dataclasses.replace)')\",",
        '                "        pass",',
        "tests/plugin/test_frozen.py",
        why="calling __init__ again on a shared record rewrites it",
    ),
    m(
        "events.shared_with_the_api",
        "pixsim_hooks/backend/_services.py",
        "                await self._publish(detached(event))",
        "                await self._publish(event)",
        "tests/backend/test_shared_values.py",
        why="the event plugins get is the object the API answers from",
    ),
    m(
        "checked_json.any_mapping",
        "pixsim_hooks/plugin/_capabilities.py",
        "    if type(value) is FrozenDict:\n        return dict(value.items())",
        "    if isinstance(value, Mapping):\n        return dict(value.items())",
        "tests/plugin/test_frozen.py",
        why="a plugin's own Mapping object (whose methods it controls) is taken for JSON",
    ),
    # -- answers and keys checked by exact type and range (red-team 36, 37) -------------------------------------------
    m(
        "factor.huge_int_converted",
        "pixsim_hooks/plugin/_behavior_types.py",
        "        return float(value) if 0 <= value <= MAX_FACTOR else None",
        "        return float(value) if float(value) >= 0 else None",
        "tests/backend/behavior/test_factor_answers.py",
        "tests/runtime/test_results.py",
        why="a 400-digit integer factor is converted to float (OverflowError, a core 5xx) and no upper bound holds",
    ),
    m(
        "npc_key.any_digits",
        "pixsim_hooks/plugin/_capabilities.py",
        '_NPC_KEY = re.compile(r"npc:(?:0|[1-9][0-9]{0,17})", re.ASCII)',
        '_NPC_KEY = re.compile(r"npc:\\d+")',
        "tests/plugin",
        "tests/runtime/test_results.py",
        why="npc keys with non-ASCII or leading-zero digits name a second key for one NPC",
    ),
    m(
        "results.condition_truthy",
        "pixsim_hooks/runtime/_results.py",
        '    if type(value) is not bool:\n        raise _refuse(plugin_id, what, value, "true or false")',
        '    if value is None:\n        raise _refuse(plugin_id, what, value, "true or false")',
        "tests/runtime/test_results.py",
        "tests/runtime/test_hostile_answers.py",
        why="an out-of-process condition's truthy non-bool answer counts as True",
    ),
    m(
        "registry.homonyms",
        "pixsim_hooks/plugin/_behavior.py",
        "            if kind is not entry.kind and (kind, entry.id) in self._entries:",
        "            if False:",
        "tests/host/test_host.py",
        why="a condition and a scoring factor share one id a protocol call cannot tell apart",
    ),
    m(
        "limits.manifest_raises_its_own",
        "pixsim_hooks/runtime/_start.py",
        "    asked = manifest.process.within(ProcessRuntime())",
        "    asked = manifest.process",
        "tests/runtime/test_sandbox.py",
        why="a plugin's manifest raises its own memory and file limits",
    ),
    # -- protocol state (red-team 24, 38) -----------------------------------------------------------------------------
    m(
        "frames.unasked_believed",
        "pixsim_hooks/runtime/_sandbox.py",
        "            if self._owed == 0:",
        "            if False:",
        "tests/runtime/test_frames.py",
        "tests/runtime/test_hostile_answers.py",
        why="a frame nobody asked for is queued and taken for the next answer",
    ),
    m(
        "remote.any_session",
        "pixsim_hooks/runtime/_remote_server.py",
        '        if refusal is None and request.headers.get(SESSION_HEADER, "") != self.session:',
        "        if False:",
        "tests/runtime/test_remote.py",
        why="a conversation recorded before a restart is replayed to the restarted server",
    ),
    # -- web glue and backend -----------------------------------------------------------------------------------------
    m(
        "routes.world_gate_open",
        "pixsim_hooks/fastapi/_room.py",
        "        return world is not None and host.world_scope(world.id, world.meta).allows(self.plugin_id)",
        "        return world is not None",
        BACKEND,
        CONTRIB,
        why="a plugin route answers for a world that has not enabled the plugin (red-team 28)",
    ),
    m(
        "routes.gate_shapes_stale",
        "pixsim_hooks/fastapi/_room.py",
        "        if seen != self._seen:\n            self._shapes, self._seen = _shapes(router.routes), seen",
        "        if self._seen is None:\n            self._shapes, self._seen = _shapes(router.routes), seen",
        "tests/backend/test_plugin_boundary.py",
        why="a route a plugin adds to its router after mounting answers for worlds that have not enabled it",
    ),
    m(
        "routes.credentials_passed",
        "pixsim_hooks/fastapi/_room.py",
        '        headers, _ = split_credentials(scope["headers"], self._cookies)\n        child = visible_scope(',
        '        headers = list(scope["headers"])\n        child = visible_scope(',
        "tests/backend/test_plugin_boundary.py",
        why="a plugin's admin route reads the operator's bearer token and admin cookie (red-team 29)",
    ),
    m(
        "routes.host_scope_passed",
        "pixsim_hooks/fastapi/_room.py",
        "        child = visible_scope(scope, headers)",
        "        child = dict(scope, headers=headers)",
        "tests/backend/test_plugin_boundary.py",
        why="a plugin route's scope carries the main app's router, state and other host entries (red-team 29)",
    ),
    m(
        "routes.send_unsealed",
        "pixsim_hooks/fastapi/_room.py",
        "            await self._app(child, Sealed(receive), Sealed(sent))",
        "            await self._app(child, receive, sent)",
        "tests/backend/test_plugin_boundary.py",
        why="a plugin route reaches the host's send and receive through plain attributes (red-team 29)",
    ),
    m(
        "routes.any_plugins_context",
        "pixsim_hooks/fastapi/_routes.py",
        "        if ctx.plugin_id != plugin_id:",
        "        if False:",
        "tests/backend/test_plugin_boundary.py",
        why="a plugin asking for another plugin's context is neither refused nor recorded (red-team 29)",
    ),
    m(
        "routes.base_exception_escapes",
        "pixsim_hooks/fastapi/_room.py",
        "            await self._app(child, Sealed(receive), Sealed(sent))\n        except BaseException as exc:",
        "            await self._app(child, Sealed(receive), Sealed(sent))\n        except Exception as exc:",
        "tests/backend/test_plugin_boundary.py",
        why="SystemExit or KeyboardInterrupt from a plugin route reaches the server (red-team 32)",
    ),
    m(
        "routes.stream_in_a_task",
        "pixsim_hooks/fastapi/_scopes.py",
        '        asgi["spec_version"] = "2.4"  # see the module docstring',
        "        pass",
        "tests/backend/test_plugin_boundary.py",
        why="a SystemExit from a plugin's streaming body under a 2.3 server reaches the event loop (red-team 32)",
    ),
    m(
        "routes.disconnect_blamed",
        "pixsim_hooks/fastapi/_room.py",
        "            if sent.gone:\n                return  # the client left mid-stream: nobody to answer, nothing the",
        "            if False:\n                return  # the client left mid-stream: nobody to answer, nothing the",
        "tests/backend/test_plugin_boundary.py",
        why="a client leaving a plugin's stream is recorded as the plugin's failure",
    ),
    m(
        "middleware.runs_on_admin",
        "pixsim_hooks/fastapi/_middleware.py",
        "        if not isinstance(host, PluginHost) or is_private(route_path(scope), self._private):",
        "        if not isinstance(host, PluginHost):",
        "tests/backend/test_plugin_boundary.py",
        why="plugin middleware wraps the admin API and the admin page (red-team 30)",
    ),
    m(
        "middleware.next_unsealed",
        "pixsim_hooks/fastapi/_middleware.py",
        "                middleware = factory(Sealed(after))",
        "                middleware = factory(after)",
        "tests/backend/test_plugin_boundary.py",
        why="a plugin middleware walks from its next app's closure to the main application (red-team 30)",
    ),
    m(
        "middleware.sees_credentials",
        "pixsim_hooks/fastapi/_middleware.py",
        '        headers, credentials = split_credentials(scope["headers"], self._cookies)',
        '        headers, credentials = list(scope["headers"]), ([], [])',
        "tests/backend/test_plugin_boundary.py",
        why="plugin middleware reads the Authorization header and the admin cookie (red-team 30)",
    ),
    m(
        "middleware.shared_state",
        "pixsim_hooks/fastapi/_scopes.py",
        '    child["state"] = {}',
        '    child["state"] = scope.setdefault("state", {})',
        "tests/backend/test_plugin_boundary.py",
        why="one plugin reads what another plugin (or the host) put in the request state",
    ),
    m(
        "routes.denial_is_a_502",
        "pixsim_hooks/fastapi/_problems.py",
        "    if isinstance(exc, PermissionDenied):\n        host.health.record_failure(plugin_id, where, Outcome.DENIED, exc)",
        "    if False:\n        host.health.record_failure(plugin_id, where, Outcome.DENIED, exc)",
        BACKEND,
        CONTRIB,
        why="a PermissionDenied in a plugin route is answered 502, not 403",
    ),
    m(
        "store.lost_update",
        "pixsim_hooks/backend/_session_store.py",
        "            .where(GameSession.id == after.id, GameSession.version == read_version)",
        "            .where(GameSession.id == after.id)",
        BACKEND,
        CONTRIB,
        why="concurrent session writers overwrite each other (red-team 22)",
    ),
    m(
        "store.expected_version_ignored",
        "pixsim_hooks/backend/_session_store.py",
        "    if expected is not None and snapshot.version != expected:",
        "    if False:",
        BACKEND,
        CONTRIB,
        why="a compare-and-set against an old version still writes",
    ),
    m(
        "admin.logout_keeps_session",
        "pixsim_hooks/backend/_api/_admin_page.py",
        "    if session := request.cookies.get(COOKIE):\n        await _store(request).revoke(session)",
        "    if session := request.cookies.get(COOKIE):\n        pass",
        "tests/backend/test_admin_page.py",
        "tests/browser",
        why="a cookie captured before logout keeps working after it (red-team 39)",
    ),
    m(
        "admin.origin_unchecked",
        "pixsim_hooks/backend/_api/_admin_page.py",
        "    return claimed is not None and own is not None and _origin(claimed) == own",
        "    return True",
        "tests/backend/test_admin_page.py",
        why="a state-changing admin page request from another origin is carried out (red-team 39)",
    ),
    m(
        "admin.no_referrer",
        "pixsim_hooks/backend/_api/_admin_page.py",
        '    "Referrer-Policy": "same-origin",',
        '    "Referrer-Policy": "no-referrer",',
        "tests/browser",
        why="the browser posts the page's own forms with Origin: null, which the origin check refuses",
    ),
    m(
        "admin.token_unchecked",
        "pixsim_hooks/backend/_api/_admin.py",
        "    if not secrets.compare_digest(given.encode(), token.encode()):",
        "    if not given:",
        BACKEND,
        why="any bearer token opens the admin API",
    ),
    # -- the HTTP API's contract (issue 14) --------------------------------------------------------------------------
    m(
        "api.ids_unbounded",
        "pixsim_hooks/fastapi/_routes.py",
        'IdPath = Annotated[int, Path(ge=1, le=MAX_JSON_ID, description="A row id (1 to 2**53 - 1).")]',
        'IdPath = Annotated[int, Path(ge=1, description="A row id (1 to 2**53 - 1).")]',
        "tests/backend/api/test_bounds.py",
        why="an id past 64 bits reaches the database driver (OverflowError, a 500)",
    ),
    m(
        "api.offset_unbounded",
        "pixsim_hooks/backend/_api/_deps.py",
        'Offset = Annotated[int, Query(ge=0, le=MAX_JSON_ID, description="Rows to skip.")]',
        'Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]',
        "tests/backend/api/test_bounds.py",
        why="an offset past 64 bits reaches the database driver",
    ),
    m(
        "api.bool_is_an_integer",
        "pixsim_hooks/backend/_api/_schemas.py",
        '    if isinstance(value, bool | str):\n        raise ValueError(f"must be a JSON number',
        '    if isinstance(value, str):\n        raise ValueError(f"must be a JSON number',
        "tests/backend/api/test_bounds.py",
        why="true is taken as the id 1",
    ),
    m(
        "api.seconds_unbounded",
        "pixsim_hooks/backend/_api/_schemas.py",
        "    Field(gt=0, le=MAX_ADVANCE_SECONDS, allow_inf_nan=False,",
        "    Field(gt=0, allow_inf_nan=False,",
        "tests/backend/api/test_bounds.py",
        why="1.7e308 seconds twice overflow the clock (a 500 before)",
    ),
    m(
        "api.if_match_anything",
        "pixsim_hooks/backend/_api/_deps.py",
        "            pattern=IF_MATCH_PATTERN,\n",
        "",
        "tests/backend/api/test_bounds.py",
        "tests/backend/api/test_problem_contract.py",
        why="If-Match is documented as any string and 'null' is a server-side ValueError",
    ),
    m(
        "world.meta_unchecked_on_post",
        "pixsim_hooks/backend/_services.py",
        "        check_world_meta(meta)\n        return await self.storage.worlds.create_world(name, meta)",
        "        return await self.storage.worlds.create_world(name, meta)",
        "tests/backend/api/test_write_validation.py",
        why="a world with bad behavior JSON is stored and fails only at its next tick",
    ),
    m(
        "world.enabled_plugins_any_shape",
        "pixsim_hooks/backend/behavior/_loading.py",
        "        if not isinstance(enabled, list):",
        "        if enabled is None:",
        "tests/backend/api/test_write_validation.py",
        why='enabledPlugins: "reputation" is stored and silently enables no plugin',
    ),
    m(
        "npc.meta_unchecked_on_patch",
        "pixsim_hooks/backend/_services.py",
        '        if "meta" in values:\n            check_npc_meta(values["meta"], (await self.get_world(world_id)).meta)\n',
        "",
        "tests/backend/api/test_write_validation.py",
        why="an NPC patched to a routine its world lacks is stored",
    ),
    m(
        "problems.allow_of_the_first_route",
        "pixsim_hooks/backend/_api/_problems.py",
        '    if exc.status_code == 405:\n        response.headers["Allow"]',
        '    if exc.status_code == 4050:\n        response.headers["Allow"]',
        "tests/backend/api/test_problem_contract.py",
        why="a 405 lists only the first route's methods of its path",
    ),
    m(
        "problems.json_for_client_errors",
        "pixsim_hooks/backend/_api/_problems.py",
        '        if status[:1] in "45":\n            response["content"]',
        '        if status[:1] in "5":\n            response["content"]',
        "tests/backend/api/test_problem_contract.py",
        why="4xx responses are documented as FastAPI's HTTPValidationError, not the problem schema",
    ),
    m(
        "core_error.blamed_on_the_plugin",
        "pixsim_hooks/fastapi/_problems.py",
        "    if type(exc) is CoreError:  # the core's: the host logs it as such and counts nothing against the plugin",
        "    if type(exc) is CoreError and False:",
        "tests/backend/api/test_problem_contract.py",
        why="the storage failing under a plugin route is the plugin's 502 and counts against it",
    ),
    m(
        "core_error.raw_storage",
        "pixsim_hooks/plugin/_context.py",
        "    storage = CoreStorage(services.storage, lambda exc: services.on_core_error(pid, exc))",
        "    storage = services.storage",
        "tests/plugin/test_context.py",
        "tests/backend/api/test_problem_contract.py",
        why="a storage failure under a plugin's call is not told apart from the plugin's own",
    ),
    m(
        "core_error.counted_under_hooks",
        "pixsim_hooks/host/_host.py",
        "        if type(exc) is CoreError:\n            _log.error(",
        "        if type(exc) is CoreError and False:\n            _log.error(",
        "tests/host/test_dispatch.py",
        "tests/backend/api/test_problem_contract.py",
        why="the storage failing under a plugin's hook counts against the plugin and can open its breaker",
    ),
    m(
        "body_limit.chunked_unbounded",
        "pixsim_hooks/backend/_api/_body_limit.py",
        "            if len(body) > self.max_bytes:",
        "            if False:",
        "tests/backend/api/test_problem_contract.py",
        why="a chunked body (no Content-Length) of any size is read whole",
    ),
    # -- issue 15: routes out of process, check, tracebacks --------------------------------------------------------
    m(
        "routes.forwarded_from_in_process",
        "pixsim_hooks/fastapi/_routes.py",
        "        if type(router) is ForwardedRoutes and host.isolated(plugin_id) is not None:",
        "        if type(router) is ForwardedRoutes:",
        "tests/backend/test_plugin_boundary.py",
        why="an in-process plugin hands the host forwarding routes of its own making and they are mounted",
    ),
    m(
        "routes.ungranted_router_collected",
        "pixsim_hooks/runtime/_isolated.py",
        "            if hookspecs.contract_of(getattr(hookspecs.routes, hook)).permission not in self.permissions:",
        "            if False:",
        "tests/protocol/test_host_rejects.py",
        why="a router whose permission was not granted is asked for (its code runs) anyway",
    ),
    m(
        "routes.header_line_break",
        "pixsim_hooks/runtime/_results.py",
        '_FIELD_VALUE = re.compile(r"[\\t\\x20-\\x7e\\x80-\\xff]{0,8000}")',
        '_FIELD_VALUE = re.compile(r"[\\t\\n\\r\\x20-\\x7e\\x80-\\xff]{0,8000}")',
        "tests/runtime/test_results.py",
        why="a plugin's response header carrying CR/LF is passed on (header injection)",
    ),
    m(
        "routes.error_status_any",
        "pixsim_hooks/runtime/_results.py",
        '        status = _status(plugin_id, what, value["status"], 400)',
        '        status = _status(plugin_id, what, value["status"], 100)',
        "tests/runtime/test_results.py",
        why="an 'HTTP error' answered with a 200 status is rendered as a problem with a success status",
    ),
    m(
        "routes.oversized_blamed_on_plugin",
        "pixsim_hooks/fastapi/_forwarded.py",
        "        except OversizedMessage:  # nothing was sent: the request is too big for the plugin's channel",
        "        except ZeroDivisionError:  # nothing was sent: the request is too big for the plugin's channel",
        "tests/backend/test_sandboxed_routes.py",
        why="a request too big for the plugin's channel is answered as the plugin's 502 instead of the client's 413",
    ),
    m(
        "routes.context_not_in_child_scope",
        "pixsim_hooks/runtime/_plugin_routes.py",
        "            ROUTE_CONTEXT_KEY: ctx,",
        '            "pixsim.other": ctx,',
        "tests/backend/test_sandboxed_routes.py",
        why="a sandboxed route's get_plugin_context finds no context (every route that asks for it answers 404)",
    ),
    m(
        "routes.not_restored_after_restart",
        "pixsim_hooks/runtime/_isolated.py",
        "        if self._routes:  # and its routers (the host keeps forwarding the routes it described first)",
        "        if False:  # and its routers (the host keeps forwarding the routes it described first)",
        "tests/backend/test_sandboxed_routes.py",
        why="a restarted child never gets its router again: every route of it fails after a crash",
    ),
    m(
        "check.runs_elsewhere_unsaid",
        "pixsim_hooks/backend/_cli_plugins.py",
        '    if asked is Isolation.IN_PROCESS and runs != "in_process" and info.state is not PluginState.QUARANTINED:',
        "    if False:",
        "tests/backend/test_cli.py",
        why="plugins check passes a plugin that asks for the host's process but is run in a child",
    ),
    m(
        "traces.child_traceback_dropped",
        "pixsim_hooks/plugin/_traces.py",
        "        if type(reported) is str and reported:",
        "        if False:",
        "tests/backend/test_sandboxed_routes.py",
        why="a sandboxed plugin's failure is logged without the traceback its process sent",
    ),
    m(
        "sandbox.sweep_takes_live_hosts",
        "pixsim_hooks/runtime/_sandbox.py",
        "        if _running(int(host_pid)):",
        "        if False:",
        "tests/runtime/test_sandbox.py",
        why="a host removes the working directories of plugin processes another live host is running",
    ),
    m(
        "sandbox.never_swept",
        "pixsim_hooks/runtime/_sandbox.py",
        "        _sweep_once()\n",
        "",
        "tests/runtime/test_sandbox.py",
        why="what a killed host left in the temporary directory stays there for ever",
    ),
    # -- issue 13: the deployment's control plane on Redis ---------------------------------------------------------
    m(
        "control.message_ignored",
        "pixsim_hooks/host/_redis_control.py",
        "                    await self._look(plugin_id)",
        "                    pass",
        "tests/host/test_control.py",
        why="a word announced on the channel is not applied until the next reconcile (an hour in the tests)",
    ),
    m(
        "control.no_reconcile_at_join",
        "pixsim_hooks/host/_redis_control.py",
        "            await self._reconcile()  # before serving: a new process starts with the deployment's words",
        "            pass",
        "tests/host/test_control.py",
        why="a process that joins serves a plugin the deployment disabled",
    ),
    m(
        "control.pending_never_flushed",
        "pixsim_hooks/host/_redis_control.py",
        "                    await self._flush_pending()",
        "                    pass",
        "tests/host/test_control.py",
        why="a word given while Redis was away is never shared",
    ),
    m(
        "control.quarantine_kept_local",
        "pixsim_hooks/host/_host.py",
        "        if share and self._joined:  # at run time (a crash loop, a failing lifecycle hook): the deployment's word",
        "        if False:",
        "tests/host/test_control.py",
        why="a plugin quarantined at run time in one process keeps running in the others",
    ),
    m(
        "control.shutdown_publishes",
        "pixsim_hooks/host/_host.py",
        "                await self._disable_here(pid)  # this process stopping is no word on the plugin for the others",
        "                await self.disable(pid)",
        "tests/host/test_control.py",
        why="a process that stops disables its plugins in the whole deployment",
    ),
    m(
        "control.one_vote_opens",
        "pixsim_hooks/host/_control.py",
        "    return max(MIN_QUORUM, alive // 2 + 1)",
        "    return 1",
        "tests/host/test_control.py",
        why="one process seeing a plugin fail opens its breaker in every process",
    ),
    m(
        "control.votes_not_counted",
        "pixsim_hooks/host/_redis_control.py",
        "        if len(counted) >= quorum(len(alive)):",
        "        if False:",
        "tests/host/test_control.py",
        why="a plugin failing in every process still gets a failure budget per process",
    ),
    m(
        "control.failures_kept_local",
        "pixsim_hooks/host/_host.py",
        "        self.control.share_failure(plugin_id, shared)  # the deployment's health window",
        "        pass",
        "tests/host/test_control.py",
        why="a plugin's failures are seen only by the process they happened in: the admin sees a healthy deployment",
    ),
    m(
        "control.failures_outside_the_window",
        "pixsim_hooks/host/_redis_control.py",
        "            found[plugin_id] = sorted((f for f in shared if f is not None and f.at >= since), key=lambda f: f.at)",
        "            found[plugin_id] = sorted((f for f in shared if f is not None), key=lambda f: f.at)",
        "tests/host/test_control.py",
        why="failures older than the health window are counted in it",
    ),
    m(
        "sessions.binding_unchecked",
        "pixsim_hooks/backend/_api/_admin_sessions.py",
        "            if not secrets.compare_digest(str(bound).encode(), binding.encode()):",
        "            if False:",
        "tests/backend/test_admin_sessions_shared.py",
        why="a shared session opened under another admin token is accepted",
    ),
    m(
        "sessions.kept_in_memory",
        "pixsim_hooks/backend/_api/_admin_sessions.py",
        "    return RedisSessions(redis_url) if redis_url is not None else MemorySessions()",
        "    return MemorySessions()",
        "tests/backend/test_deployment.py",
        why="each process keeps its own admin sessions: a logout on one leaves the session open on the others",
    ),
    # -- issue 13: durable event delivery ------------------------------------------------------------------------
    m(
        "events.delivered_inline_too",
        "pixsim_hooks/backend/_services.py",
        "        if not emission.journaled:",
        "        if True:",
        "tests/backend/events/test_log.py",
        why="a journaled write's events are also delivered inline: the request waits and handlers see them twice",
    ),
    m(
        "events.ids_not_stamped",
        "pixsim_hooks/backend/_journal.py",
        '            dataclasses.replace(event, event_id=f"{self.write_id}.{n}", session_version=session_version)',
        "            event",
        "tests/backend/test_services.py",
        "tests/backend/events/test_log.py",
        why="events carry no id and no version: a handler cannot tell a redelivery from a new event",
    ),
    m(
        "events.gone_never_marked",
        "pixsim_hooks/backend/events/_log.py",
        "  if prev[1] and tonumber(prev[1]) > tonumber(ARGV[1]) and prev[2] ~= ARGV[3] then",
        "  if false then",
        "tests/backend/events/test_log.py",
        "tests/backend/events/test_worker.py",
        why="the write that takes a dead write's version does not mark it: the dead write's event is delivered",
    ),
    m(
        "events.gone_off_by_one",
        "pixsim_hooks/backend/events/_log.py",
        "  if prev[1] and tonumber(prev[1]) > tonumber(ARGV[1]) and prev[2] ~= ARGV[3] then",
        "  if prev[1] and tonumber(prev[1]) >= tonumber(ARGV[1]) and prev[2] ~= ARGV[3] then",
        "tests/backend/events/test_log.py",
        why="the previous, committed write of a session is marked gone: its event is dropped",
    ),
    m(
        "events.gone_not_asked",
        "pixsim_hooks/backend/events/_worker.py",
        "                if await self.log.gone(env.write_id):",
        "                if False:",
        "tests/backend/events/test_worker.py",
        why="a worker delivers the event of a write that never committed, because another took its version",
    ),
    m(
        "events.commit_not_awaited",
        "pixsim_hooks/backend/events/_worker.py",
        "            return found >= version",
        "            return True",
        "tests/backend/events/test_worker.py",
        why="an event is delivered before (or without) the database showing its write",
    ),
    m(
        "events.deletion_not_noted",
        "pixsim_hooks/backend/events/_worker.py",
        '        return await self.log.deleted(subject) or await self.log.deleted(f"world:{world_id}")',
        "        return False",
        "tests/backend/events/test_worker.py",
        why="the events of a session deleted before a worker got to them are dropped as never committed",
    ),
    m(
        "events.pending_not_claimed",
        "pixsim_hooks/backend/events/_worker.py",
        "        taken_over = await log.claim_pending(lane.stream, group, self.name)",
        "        taken_over: list[tuple[str, dict[str, str]]] = []",
        "tests/backend/events/test_worker.py",
        "tests/backend/events/test_delivery.py",
        why="what a stopped or killed worker had not acknowledged is never delivered: events are lost",
    ),
    m(
        "events.no_retry",
        "pixsim_hooks/backend/events/_worker.py",
        "            if attempts >= self._max_attempts:",
        "            if True:",
        "tests/backend/events/test_worker.py",
        why="a handler's first failure dead-letters the event",
    ),
    m(
        "events.never_dead_lettered",
        "pixsim_hooks/backend/events/_worker.py",
        "                await log.dead_letter(group, lane.stream, entry_id, raw, attempts, error)\n"
        '                self._done(group, "dead_lettered")',
        "                await log.ack(lane.stream, group, entry_id)\n"
        '                self._done(group, "dead_lettered")',
        "tests/backend/events/test_worker.py",
        why="an event a handler always fails is thrown away instead of kept for the operator",
    ),
    m(
        "events.lane_dies_on_failure",
        "pixsim_hooks/backend/events/_worker.py",
        "            except Exception:  # the database, say: the lane must go on, not die with its lease renewed for ever\n"
        "                interrupted = True\n"
        '                _log.exception("event lane failed", lane=lane.lease)\n',
        "",
        "tests/backend/events/test_worker.py",
        why="one database error ends a lane's task while its lease is renewed: nobody delivers that lane again",
    ),
    m(
        "events.stop_ignored_while_confirming",
        "pixsim_hooks/backend/events/_worker.py",
        "        while not stop.is_set():\n            if await self._shown(",
        "        while True:\n            if await self._shown(",
        "tests/backend/events/test_worker.py",
        why="a worker told to stop while it waits for a commit asks the database as fast as it can until cancelled",
    ),
    m(
        "events.redrive_kept_dead",
        "pixsim_hooks/backend/events/_log.py",
        "            pipe.xdel(dead, entry_id)",
        "            pipe.xlen(dead)",
        "tests/backend/events/test_worker.py",
        why="a re-driven dead letter stays a dead letter and can be re-driven again and again",
    ),
)


@dataclass(frozen=True)
class Outcome:
    id: str
    caught: bool
    seconds: float
    detail: str


def scratch_copy(into: Path) -> Path:
    """The working tree as git sees it (tracked and untracked, not ignored) copied under ``into``."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    copy = into / "pixsim-hooks"
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():  # a deleted but still tracked file is skipped
            target = copy / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


def scratch_venv(copy: Path) -> Path:
    """A virtualenv with the copy installed (editable), so that sandboxed children import the copy too."""
    venv = copy / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-e", f"{copy}[dev]"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"installing the scratch copy failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return venv


def run_tests(copy: Path, venv: Path, tests: Sequence[str], *, tail: int = 1) -> tuple[bool, str]:
    """(passed, the last ``tail`` lines pytest printed)."""
    command = [str(venv / "bin" / "pytest"), "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXSIM_")}
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 0, ("\n".join(lines[-tail:]) if lines else done.stderr.strip()[-200:])


def check_matches(mutants: Sequence[Mutant]) -> list[str]:
    """Mutants whose ``old`` text does not occur exactly once in their file."""
    stale = []
    for mutant in mutants:
        path = ROOT / mutant.path
        count = path.read_text().count(mutant.old) if path.exists() else 0
        if count != 1:
            stale.append(f"{mutant.id}: {mutant.path} holds its text {count} times (must be once)")
    return stale


def run(mutants: Sequence[Mutant], *, progress: bool) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="pixsim-mutants-") as tmp:
        copy = scratch_copy(Path(tmp))
        venv = scratch_venv(copy)
        passed, line = run_tests(copy, venv, sorted({t for mutant in mutants for t in mutant.tests}), tail=40)
        if not passed:
            raise SystemExit(f"the unmutated suite is not green, so no mutant can be judged: {line}")
        outcomes = []
        for number, mutant in enumerate(mutants, 1):
            path = copy / mutant.path
            original = path.read_text()
            path.write_text(original.replace(mutant.old, mutant.new, 1))
            start = time.monotonic()
            try:
                passed, line = run_tests(copy, venv, mutant.tests)
            finally:
                path.write_text(original)
            outcome = Outcome(mutant.id, not passed, round(time.monotonic() - start, 1), line)
            outcomes.append(outcome)
            if progress:
                verdict = "caught  " if outcome.caught else "SURVIVED"
                print(
                    f"[{number:2}/{len(mutants)}] {verdict} {mutant.id:40} {outcome.seconds:6.1f}s  {line}", flush=True
                )
        return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run only the mutants whose id starts with one of these (a,b,...)")
    parser.add_argument("--list", action="store_true", help="list the mutants and what each breaks")
    parser.add_argument("--json", action="store_true", help="print one JSON object per mutant at the end")
    args = parser.parse_args(argv)
    prefixes = tuple(args.only.split(","))
    chosen = [mutant for mutant in MUTANTS if mutant.id.startswith(prefixes)]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.id:40} {mutant.path}: {mutant.why}")
        return 0
    stale = check_matches(chosen)
    if stale:
        print("\n".join(stale), file=sys.stderr)
        return 2
    outcomes = run(chosen, progress=not args.json)
    survived = [o for o in outcomes if not o.caught]
    if args.json:
        print(json.dumps([o.__dict__ for o in outcomes], indent=1))
    else:
        print(
            f"\n{len(outcomes) - len(survived)} of {len(outcomes)} injected bugs caught; survived: "
            + (", ".join(o.id for o in survived) or "none")
        )
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())

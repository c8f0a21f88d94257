"""The processes a test started, found in this process's own tree: never by scanning the rest of the machine.

Every process a test starts descends from the pytest process, and so does whatever those processes start: the
session is a child subreaper (``tests/conftest.py``), so even a grandchild a plugin detaches is re-parented to us
when its parent dies, not to init. A leftover check compares the live descendants after a test with those before
it, so another checkout's plugins, a ``make run`` or a browser on the same machine are never looked at, let alone
killed. Zombies are not leftovers: a dead process holds nothing but its pid.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterable

import psutil
import pytest


def live_descendants(root: int | None = None) -> set[psutil.Process]:
    """The descendants of ``root`` (default: this process) that are alive and not zombies."""
    try:
        children = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    alive = set()
    for proc in children:
        with contextlib.suppress(psutil.Error):  # gone (or a zombie) while we looked
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.add(proc)
    return alive


def started_since(before: set[psutil.Process]) -> set[psutil.Process]:
    """Live descendants that were not there in ``before`` (processes compare by pid and start time)."""
    return live_descendants() - before


def describe(procs: Iterable[psutil.Process]) -> list[str]:
    described = []
    for proc in sorted(procs, key=lambda p: p.pid):
        try:
            described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            described.append(f"{proc.pid}: (gone)")
    return described


def wait_gone(procs: Iterable[psutil.Process], within: float) -> set[psutil.Process]:
    """Wait until every one of ``procs`` has exited, for at most ``within`` seconds; return those still running.

    Waits on pidfds, which become readable when their process exits: no polling, and nothing is reaped (the
    process's parent, often asyncio's child watcher, still gets its exit status)."""
    waiting: dict[int, psutil.Process] = {}
    try:
        for proc in procs:
            try:
                fd = os.pidfd_open(proc.pid)
            except ProcessLookupError:
                continue
            if proc.is_running():  # checked after opening: the pidfd is of this process, not of a reused pid
                waiting[fd] = proc
            else:
                os.close(fd)
        poller = select.poll()
        for fd in waiting:
            poller.register(fd, select.POLLIN)
        pending, end = set(waiting), time.monotonic() + within
        while pending and (left := end - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                pending.discard(fd)
        return {waiting[fd] for fd in pending}
    finally:
        for fd in waiting:
            os.close(fd)


def kill(procs: Iterable[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # psutil checks the start time: never a reused pid
            proc.kill()


def reap_adopted() -> None:
    """Reap the exited processes that were re-parented to us (we are a subreaper), as init would have.

    Nothing in this process waits for those, and only for those: a process this one started itself is in our
    session or leads its own, while an adopted one belongs to a session that one of our descendants made (bwrap's
    PID-namespace init, once the bwrap above it is killed). Everything else is left to whoever started it."""
    session = os.getsid(0)
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.status() == psutil.STATUS_ZOMBIE and os.getsid(proc.pid) not in (proc.pid, session):
                os.waitpid(proc.pid, os.WNOHANG)


def assert_none_left(before: set[psutil.Process], within: float = 10.0) -> None:
    """Fail when a process started since ``before`` is still running ``within`` seconds from now, having killed
    it first (so that one test's leftover does not fail the tests after it). The wait is for processes that are
    already on their way out: a PID namespace is torn down by the kernel after the process the host waited for."""
    wait_gone(started_since(before), within)
    left = started_since(before)
    described = describe(left)
    for _ in range(3):  # what a killed leftover had started is re-parented to us: it goes too
        if not left:
            break
        kill(left)
        wait_gone(left, 5.0)
        left = started_since(before)
    reap_adopted()
    if described:
        message = f"{len(described)} process(es) the test started outlived it (now killed):\n" + "\n".join(described)
        pytest.fail(message, pytrace=False)

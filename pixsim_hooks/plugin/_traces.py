"""A plugin's failure as its author needs to read it: the plugin's own frames (file, line, code), the host's around them
summarised, the exception chain kept. For an out-of-process plugin, the traceback its own process formatted (this same
way, there) comes first, then how the host received it.

Used on both sides of the protocol: by the host for its logs, and by the plugin's runner for the error it answers.

Host frames are those of pixsim-hooks itself and of the libraries it calls plugins through (pluggy, wrapt, asyncio,
the web stack): a plugin author can do nothing with them, and an operator reading a log wants the plugin's line.
The result is plain text for a log field (``traceback=``), so JSON logs carry it as one string and no renderer has
to reach into the exception (a renderer showing locals would read the plugin's proxies).
"""

from __future__ import annotations

import importlib.util
import os
import traceback

__all__ = ["MAX_CHILD_TRACEBACK", "plugin_traceback"]

# Located, not imported: the host does not load the web stack to say where its frames are.
_HOST_PACKAGES = ("pixsim_hooks", "proxies", "hookspecs", "pluggy", "wrapt", "asyncio", "starlette", "fastapi", "anyio")
MAX_FRAMES = 40
"""Of the plugin's own frames per exception of the chain: a deep recursion is summarised too."""


def _dirs() -> tuple[str, ...]:
    found = []
    for name in _HOST_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            found.append(os.path.abspath(location) + os.sep)
    return tuple(found)


_HOST_DIRS = _dirs()
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_REPORTED = "\nThe above exception, raised in the plugin's own process, was reported to the host as:\n\n"
MAX_CHILD_TRACEBACK = 20_000
"""Characters of the traceback an out-of-process plugin sends with an error (the protocol's ``ErrorInfo`` cap)."""


def plugin_traceback(exc: BaseException) -> str:
    """``exc`` with its chain (causes first, as Python prints them), each with the plugin's frames in full and each
    run of host frames as one line."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, _CAUSE))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, _CONTEXT))
            current = current.__context__
        else:
            chain.append((current, ""))
            current = None
    parts: list[str] = []
    for failure, joint in reversed(chain):
        reported = getattr(failure, "child_traceback", None)  # an out-of-process plugin's own, as it sent it
        if type(reported) is str and reported:
            parts += [reported[:MAX_CHILD_TRACEBACK].rstrip("\n") + "\n", _REPORTED]
        parts += _one(failure)
        parts.append(joint)
    return "".join(parts).rstrip("\n")


def _one(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    lines = ["Traceback (most recent call last):\n"] if frames else []
    hidden = shown = 0
    for frame in frames:
        if frame.filename.startswith(_HOST_DIRS):
            hidden += 1
            continue
        if hidden:
            lines.append(_host_frames(hidden))
            hidden = 0
        if shown == MAX_FRAMES:
            lines.append("  [more of the plugin's frames left out]\n")
        if shown < MAX_FRAMES:
            lines += traceback.format_list([frame])
        shown += 1
    if hidden:
        lines.append(_host_frames(hidden))
    return lines + traceback.format_exception_only(exc)


def _host_frames(count: int) -> str:
    return f"  [{count} host frame{'s' if count > 1 else ''}]\n"

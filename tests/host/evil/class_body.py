"""A plugin whose class body raises KeyboardInterrupt while the module is imported."""

from __future__ import annotations


class Plugin:
    raise KeyboardInterrupt("from a class body")

"""Capability proxies: the only way plugin code reaches a capability, and ``PermissionDenied``.

Each plugin reaches each capability surface through a ``wrapt.ObjectProxy`` built for it alone
(:func:`capability_proxy`). The proxy hands out the members the plugin's permissions grant (values as they are,
methods as *sealed calls* that can only be called) and refuses everything else with :class:`PermissionDenied`:
other members, ``__wrapped__``, ``__dict__``, ``_self_*``, assignment and deletion, every operator and protocol
wrapt would forward, pickling and copying. Errors from granted calls come back sanitized; async results come back
as plain futures, never as host coroutines.

**In-process proxies stop mistakes, not malice.** CPython has no in-process sandbox: code running in the same
interpreter can always reach the target through ``wrapt.ObjectProxy.__wrapped__.__get__(proxy)``, the class's
closures, ``gc.get_referents``, frame objects, ``sys.modules`` or ``ctypes``. That is why the host runs untrusted
(``trust: community``) plugins out of process only; these proxies keep trusted plugins honest and their mistakes
loud.

This package knows nothing of games, hookspecs or the host (an import-linter contract keeps it so).
"""

from __future__ import annotations

from proxies._denied import CapabilityError, PermissionDenied
from proxies._proxy import capability_proxy, capability_proxy_class, is_capability_proxy

__all__ = ["CapabilityError", "PermissionDenied", "capability_proxy", "capability_proxy_class", "is_capability_proxy"]

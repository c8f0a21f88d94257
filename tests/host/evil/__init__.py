"""Plugin modules whose code runs at import: the host must decide about them before importing them.

Each records its import in ``IMPORTED`` (a module of its own, so the record survives the test's checks) together
with what it could read of the host's environment at that moment."""

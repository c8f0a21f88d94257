"""Protocol 1 conformance suite (``docs/plugin-protocol.md``): reusable checks in :mod:`.conformance`, run against
our Python plugin runner in ``test_conformance.py``; the host's own rejections in ``test_host_rejects.py``."""

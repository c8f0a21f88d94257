"""``make bench``: run every benchmark module and print its ratio table."""

from __future__ import annotations

import importlib
import sys

from bench._harness import print_rows

MODULES = ("bench_dispatch", "bench_proxies", "bench_backend", "bench_routes", "bench_behavior", "bench_sandbox")


def main() -> int:
    for name in MODULES:
        module = importlib.import_module(f"bench.{name}")
        print_rows(name.removeprefix("bench_"), module.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

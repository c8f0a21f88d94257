"""``make bench`` / ``python -m bench [--json] [--only dispatch,tick]``: every benchmark's rows, against baselines
measured in the same run; ``--json`` prints them as one JSON list (``id``, ``measured_ns``, ``baseline_ns``,
``ratio``, ``target``, ``met``, ...). Exit code 0 whatever the figures: a missed target is reported, not a crash."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from bench._harness import Row, print_rows
from pixsim_hooks.telemetry import configure_logging

MODULES = (
    "bench_dispatch",
    "bench_proxies",
    "bench_backend",
    "bench_routes",
    "bench_behavior",
    "bench_sandbox",
    "bench_control",
    "bench_events",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print every row as one JSON list")
    parser.add_argument("--only", default="", help="run only these modules (dispatch,proxies,backend,...)")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)  # logs to stderr: stdout holds only the rows (and is JSON with --json)
    chosen = [m for m in MODULES if not args.only or m.removeprefix("bench_") in args.only.split(",")]
    rows: list[Row] = []
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")  # a missing module fails the bench, never skipped
        found: list[Row] = module.run()
        if not args.json:
            print_rows(name.removeprefix("bench_"), found)
        rows += found
    ids = [row.id for row in rows]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise SystemExit(f"bench rows must have unique ids; repeated: {duplicated}")
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=1))
    else:
        missed = [row.id for row in rows if row.met is False]
        print(f"\n{len(rows)} rows; targets missed: {', '.join(missed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every benchmark, one after the other: ``python -m bench`` (or ``make bench``).

Each benchmark is a fresh process and updates its own section of docs/benchmarks.md.
``--only train monitor`` picks some; ``--quick`` runs the short variants (no docs written)
to check the harness itself. Benchmarks are never part of ``make test``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

# name -> (module, full-run arguments, quick-run arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "startup": ("bench.startup_bench", [], ["--repeats", "3"]),
    "registry": ("bench.registry_show", ["--tags", "100", "1000", "--write-doc"], ["--tags", "100", "--repeats", "3"]),
    "train": ("bench.train_bench", ["--write-doc"], ["--rows", "20000", "--repeats", "1"]),
    "monitor": ("bench.monitor_bench", [], ["--quick"]),
    "hooks": ("bench.hooks_bench", ["--write-doc"], ["--repeats", "2"]),
    "runners": ("bench.runners_bench", ["--write-doc"], ["--quick"]),
    "serve": ("bench.serve", ["--write-doc"], ["--quick", "--no-peers"]),
    "runs": ("bench.runs_bench", ["--write-doc"], ["--runs", "50", "--repeats", "2", "--no-peers"]),
    "tune": ("bench.tune_bench", ["--write-doc"], ["--quick"]),
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="short runs, docs untouched")
    args = parser.parse_args()
    failed = []
    for name in args.only or list(BENCHMARKS):
        module, full, quick = BENCHMARKS[name]
        command = [sys.executable, "-m", module, *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(command)
        print(f"=== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

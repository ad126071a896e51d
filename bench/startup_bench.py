"""Start-up of the commands a git hook or a terminal runs most, next to DVC and GTO.

    python -m bench.startup_bench [--repeats 20]

Every command is a fresh process in a folder holding the example mlops.yaml; runs are
interleaved. CPU time (user + sys of the child, from ``os.times``) is what the command
needs from an idle core; wall time on a shared machine adds the wait for one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import BIN, ROOT, machine, median, table

COMMANDS = {
    "mlx --help": ["mlx", "--help"],
    "mlx validate --config-only": ["mlx", "validate", "--config-only"],
    "dvc --version": ["dvc", "--version"],
    "gto --help": ["gto", "--help"],
}


def measure(repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    folder = Path(tempfile.mkdtemp())
    shutil.copy(ROOT / "mlops.yaml.example", folder / "mlops.yaml")
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in COMMANDS}
    try:
        for _ in range(repeats):
            for name, (exe, *args) in COMMANDS.items():
                before, start = os.times(), time.perf_counter()
                subprocess.run([str(BIN / exe), *args], cwd=folder, capture_output=True, check=True)
                after = os.times()
                out[name][0].append(time.perf_counter() - start)
                cpu = after.children_user - before.children_user
                out[name][1].append(cpu + after.children_system - before.children_system)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    results = measure(args.repeats)
    rows = [
        [f"`{name}`", f"{median(wall):.3f}", f"{median(cpu):.3f}"]
        for name, (wall, cpu) in results.items()
    ]
    print(f"{machine()}; load average {os.getloadavg()[0]:.2f}; {args.repeats} runs each\n")
    print(table(["command", "wall s (median)", "CPU s (median)"], rows))


if __name__ == "__main__":
    main()

"""Helpers shared by benchmarks: synthetic tables, temp projects, timing, tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
BIN = Path(sys.executable).parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def synthetic_table(rows: int, numeric: int = 24, categorical: int = 6, seed: int = 0):
    """A binary-target table with ``numeric + categorical`` features and real signal."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {"row_id": np.arange(rows)}
    signal = np.zeros(rows)
    for i in range(numeric):
        x = rng.normal(size=rows).astype(np.float32)
        cols[f"num_{i}"] = x
        signal += x * (0.5 if i < 6 else 0.05)
    for j in range(categorical):
        levels = np.array([f"L{k}" for k in range(8 + 4 * j)])
        codes = rng.integers(0, len(levels), rows)
        cols[f"cat_{j}"] = levels[codes]
        signal += (codes % 3 == 0) * 0.4
    cols["y"] = (signal + rng.normal(0, 1.0, rows) > 0.5).astype(np.int8)
    return pd.DataFrame(cols)


def make_train_project(root: Path, rows: int, params: dict, extra: dict | None = None) -> Path:
    """A committed mlx project at ``root`` whose DVC-tracked data is ``synthetic_table(rows)``."""
    import shutil

    import yaml

    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([str(BIN / "mlx"), "init", str(root)], check=True, capture_output=True)
    (root / "data").mkdir()
    synthetic_table(rows).to_parquet(root / "data" / "train.parquet", index=False)
    subprocess.run([str(BIN / "dvc"), "add", "-q", "data/train.parquet"], cwd=root, check=True)
    config = {
        "data": {"train": "data/train.parquet", "target": "y", "id": "row_id"},
        "model": {"name": "bench", "task": "binary", "params": params, "seed": 42},
        "eval": {"perturbation": {"enabled": False}},
        **(extra or {}),
    }
    (root / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "bench data"], cwd=root, check=True)
    return root


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    """Run a command, return wall seconds (raise with its output if it fails)."""
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table (also readable in a terminal)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    lines = [fmt.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*[str(c) for c in r]) for r in rows]
    return "\n".join(lines)


def update_doc_section(title: str, body: str, path: Path = ROOT / "docs" / "benchmarks.md") -> None:
    """Replace (or append) the ``## title`` section of docs/benchmarks.md."""
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nMeasured with the scripts in `bench/`; every figure comes from one run with its baselines.\n"
    )
    start = text.find(f"\n## {title}\n")
    block = f"\n## {title}\n\n{body.strip()}\n"
    if start == -1:
        text = text.rstrip("\n") + "\n" + block
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + block + (text[end:] if end != -1 else "")
    path.write_text(text)

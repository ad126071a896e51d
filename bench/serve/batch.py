"""Batch scoring: 1M rows × 30 features from Parquet.

- ``mlx serve MODEL --batch in.parquet --output out.parquet``: end to end (process start,
  read, score, write), wall time of the command.
- a bare onnxruntime loop over the in-memory columns, same chunk size, all threads.
- ``lightgbm.Booster.predict`` on the same values as one C-ordered matrix, all threads.

The two in-memory baselines get their inputs prepared before the clock starts, so they
are the best a hand-written script could do; mlx also pays for reading and writing.
Runs interleave (mlx, onnxruntime, LightGBM, then again) and the best of each counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.serve.models import Model, synth_frame
from bench.serve.paths import WORK

CHUNK_ROWS = 65536  # serve.batch.chunk_rows default
SCORE_COLUMNS = ("_score", "score", "probability", "prediction")


def input_file(rows: int) -> Path:
    """The cached Parquet input (generated once per row count)."""
    path = WORK / f"batch-{rows}.parquet"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = synth_frame(rows, seed=3).drop(columns=["y"])
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.rename(path)
    return path


def _threads() -> int:
    return os.cpu_count() or 1


def _ort_loop(model: Model, columns: dict[str, np.ndarray], n: int) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _threads()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model.onnx), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    proba_index = names.index("probabilities")
    out = np.empty(n, dtype=np.float32)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        feeds = {k: v[start:stop] for k, v in columns.items()}
        out[start:stop] = sess.run(None, feeds)[proba_index][:, 1]
    return time.perf_counter() - t0, out


def _lightgbm(model: Model, matrix: np.ndarray) -> tuple[float, np.ndarray]:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model.native))
    t0 = time.perf_counter()
    pred = booster.predict(matrix, num_threads=_threads())
    return time.perf_counter() - t0, pred


def _mlx(model: Model, mlx_bin: str, src: Path, folder: Path) -> tuple[float, float | None]:
    """Wall seconds of the whole command, and the seconds mlx itself reports (--json)."""
    out = folder / "mlx-batch-out.parquet"
    out.unlink(missing_ok=True)
    cmd = [mlx_bin, "serve", str(model.dir), "--batch", str(src), "--output", str(out), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=model.project, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.is_file():
        detail = (proc.stderr.strip() or proc.stdout.strip())[-300:]
        raise RuntimeError(f"`mlx serve --batch` failed ({proc.returncode}): {detail}")
    try:
        inner = float(json.loads(proc.stdout)["seconds"])
    except (ValueError, KeyError, TypeError):
        inner = None
    return wall, inner


def _check_mlx_output(folder: Path, expected: np.ndarray) -> str | None:
    import pyarrow.parquet as pq

    table = pq.read_table(folder / "mlx-batch-out.parquet")
    if table.num_rows != len(expected):
        return f"mlx wrote {table.num_rows} rows for {len(expected)} inputs"
    for name in SCORE_COLUMNS:
        if name in table.column_names:
            got = table.column(name).to_numpy()[: len(expected)].astype(np.float64)
            worst = float(np.nanmax(np.abs(got - expected)))
            return None if worst < 1e-4 else f"mlx scores differ: max |Δ| = {worst:.3g}"
    return None  # no recognised score column: row count checked only


def measure(model: Model, rows: int, mlx_bin: str, mlx_skip: str | None, repeats: int, log=print):
    import pyarrow.parquet as pq

    src = input_file(rows)
    folder = WORK / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(src)
    names = model.feature_names
    columns = {k: table.column(k).to_numpy().astype(np.float32).reshape(-1, 1) for k in names}
    matrix = np.ascontiguousarray(np.hstack([columns[k] for k in names]))
    n = table.num_rows
    del table
    times: dict[str, list[float]] = {"mlx": [], "mlx-inner": [], "onnxruntime": [], "lightgbm": []}
    errors: dict[str, str] = {}
    ort_scores = lgb_scores = None
    for r in range(repeats):
        log(f"  batch round {r + 1}/{repeats}: {n:,} rows")
        if mlx_skip is None and "mlx" not in errors:
            try:
                wall, inner = _mlx(model, mlx_bin, src, folder)
            except RuntimeError as exc:
                errors["mlx"] = str(exc)
            else:
                times["mlx"].append(wall)
                if inner:
                    times["mlx-inner"].append(inner)
        seconds, ort_scores = _ort_loop(model, columns, n)
        times["onnxruntime"].append(seconds)
        seconds, lgb_scores = _lightgbm(model, matrix)
        times["lightgbm"].append(seconds)
    if mlx_skip:
        errors["mlx"] = mlx_skip
    if times["mlx"] and ort_scores is not None:
        err = _check_mlx_output(folder, ort_scores.astype(np.float64))
        if err:
            errors["mlx check"] = err
    diff = np.abs(ort_scores.astype(np.float64) - lgb_scores)
    return {
        "rows": n,
        "features": len(names),
        "chunk_rows": CHUNK_ROWS,
        "threads": _threads(),
        "input": str(src),
        "input_mib": round(src.stat().st_size / 2**20, 1),
        "seconds": {k: v for k, v in times.items() if v},
        "rows_per_s": {k: n / min(v) for k, v in times.items() if v},
        "onnx_vs_lightgbm_max_abs_diff": float(diff.max()),
        "onnx_vs_lightgbm_rows_over_1e-5": int((diff > 1e-5).sum()),
        "errors": errors,
    }

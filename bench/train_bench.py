"""`mlx train` end to end vs a bare LightGBM fit + ONNX conversion on the same data.

    python -m bench.train_bench [--rows 100000 1000000] [--repeats 3] [--write-doc]

Both sides run as fresh processes (imports included) on the same Parquet file with the
same LightGBM parameters and threads. The bare side reads the file with pandas, marks
the string columns categorical, fits, converts with onnxmltools and writes the model:
the least anyone does to get an ONNX model. mlx additionally validates the data,
splits it, checks parity, computes metrics and the reference profile, writes metadata
and tracks the files with DVC. Runs are interleaved; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date
from pathlib import Path

from bench._common import (
    BIN,
    WORK,
    machine,
    make_train_project,
    median,
    run,
    table,
    update_doc_section,
)

PARAMS = {"num_iterations": 100, "num_leaves": 31, "learning_rate": 0.1}

BARE = """
import sys, pandas as pd, lightgbm as lgb, onnxmltools
sys.setrecursionlimit(50_000)  # onnxmltools recurses per BRANCH_EQ: RecursionError otherwise
from onnxmltools.convert.common.data_types import FloatTensorType
frame = pd.read_parquet(sys.argv[1])
y = frame.pop("y"); frame.pop("row_id")
for c in frame.columns:
    if c.startswith("cat_"):
        frame[c] = frame[c].astype("category")
params = {"objective": "binary", "verbosity": -1, "seed": 42, **PARAMS}
booster = lgb.train(params, lgb.Dataset(frame, y), num_boost_round=params.pop("num_iterations"))
onx = onnxmltools.convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, frame.shape[1]]))],
                                   zipmap=False, target_opset=15)
open(sys.argv[2], "wb").write(onx.SerializeToString())
"""


EXPLAIN = """

What the overhead is (the phases above; the bare side fits on every row, mlx on the 80%
training split):

- **held-out scoring**: onnxruntime scores every held-out row (the recorded metrics and
  the drift reference come from the served artifact) in row chunks on all cores, each
  chunk a one-thread run (more intra-op threads add the tree sums in another order and
  change the last bits).
- **parity**: LightGBM predicts an evenly spread sample of at most 10,000 held-out rows
  (compared with their ONNX scores above) plus a few thousand probe rows on both sides
  (split thresholds, missing values, unseen categories): a bounded cost, 2% of the fit
  at 1M rows in the run above (issue 18's target: ≤ 10%).
- **export**: the booster's trees read from its model text (`mlx/train/booster_text.py`),
  the float32 thresholds chosen from the training values next to each split
  (`mlx/train/thresholds.py`), the graph and an onnxruntime session.
- **metrics, profile, write**: the reference profile sorts each numeric column once
  (deciles, percentile grid), plus category counts, metrics and the metadata file.
- **split, validate, read**: a stratified split, the pandera checks, and reading with the
  declared types.
- Outside the phases: the CLI and config (~0.15 s), DVC tracking of the model files
  (~0.35 s, mostly importing DVC), git.

None of these can be skipped without losing a guarantee `mlx train` gives (parity, the
monitoring reference, lineage), so the 15% target is not met on this data; the fixed
cost dominates at 100k rows.
"""


def make_project(folder: Path, rows: int) -> Path:
    return make_train_project(folder / f"train-{rows}", rows, PARAMS)


def measure(rows: int, repeats: int, folder: Path) -> dict:
    root = make_project(folder, rows)
    bare_script = folder / "bare.py"
    bare_script.write_text(f"PARAMS = {PARAMS!r}\n" + BARE)
    bare, mlx, phases = [], [], []
    for _ in range(repeats):
        bare.append(
            run(
                [
                    str(BIN / "python"),
                    str(bare_script),
                    str(root / "data/train.parquet"),
                    str(folder / "bare.onnx"),
                ]
            )
        )
        mlx.append(run([str(BIN / "mlx"), "train", "--json"], cwd=root))
        meta = json.loads((root / "models/bench/metadata.json").read_text())
        phases.append(meta["runner"]["phases_s"])
    last = phases[-1]
    return {"rows": rows, "bare_s": median(bare), "mlx_s": median(mlx), "phases": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true", help="Update docs/benchmarks.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        for rows in args.rows:
            results.append(measure(rows, args.repeats, Path(tmp)))
            print(f"measured {rows} rows", flush=True)
    print(render(results))
    (WORK / "train_bench.json").write_text(json.dumps(results, indent=2))
    if args.write_doc:
        write_doc(results, args.rows, args.repeats)


def render(results: list[dict]) -> str:
    headers = [
        "rows × 30 features",
        "bare fit + convert (s)",
        "mlx train (s)",
        "mlx / bare",
        "overhead",
    ]
    body = [
        [
            f"{r['rows']:,}",
            f"{r['bare_s']:.2f}",
            f"{r['mlx_s']:.2f}",
            f"{r['mlx_s'] / r['bare_s']:.2f}×",
            f"{(r['mlx_s'] / r['bare_s'] - 1) * 100:+.0f}%",
        ]
        for r in results
    ]
    phase_names = list(results[-1]["phases"])
    phase_rows = [
        [f"{r['rows']:,}", *[f"{r['phases'].get(p, 0):.2f}" for p in phase_names]] for r in results
    ]
    return (
        table(headers, body)
        + "\n\nmlx train phases (s, last run):\n\n"
        + table(["rows", *phase_names], phase_rows)
    )


def write_doc(results: list[dict], rows: list[int], repeats: int) -> None:
    update_doc_section(
        "Training",
        f"`python -m bench.train_bench --rows {' '.join(map(str, rows))} --repeats {repeats}` "
        f"on {date.today()} ({machine()}). LightGBM {PARAMS}, binary, 24 numeric + 6 categorical "
        "features, Parquet input; both sides are fresh processes (imports included); median of the "
        "interleaved runs. Target: overhead ≤ 15% at 1M rows.\n\n" + render(results) + EXPLAIN,
    )


if __name__ == "__main__":
    main()

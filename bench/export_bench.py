"""LightGBM → ONNX: the direct exporter vs onnxmltools, scoring vs LightGBM, and `mlx train`.

    python -m bench.export_bench [--rows 250000] [--repeats 5] [--write-doc]

Two tables with real signal: a categorical-heavy one (6 numeric, 3 low-cardinality
strings, one ~4,000-level string with 1% missing) and its 6 numeric columns alone.
200 trees × 63 leaves, binary. In one process per table: fit, both exporters (time,
size), parity, and scoring the 20% held-out rows with onnxruntime (all cores) vs
LightGBM ``predict`` (all cores) on the same prepared inputs, median of ``--repeats``.
The fallback form for categorical splits (opset 3, code-range searches) is scored too. Then
`mlx train` vs a bare LightGBM fit + onnxmltools conversion, as fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import train_bench
from bench._common import BIN, WORK, median, run
from bench.export_report import PARAMS, report, write_doc

LOW_CARD = {"cat_a": 3, "cat_b": 24, "cat_c": 105}
HIGH_CARD = 4000

BARE = train_bench.BARE  # the same bare LightGBM fit + onnxmltools conversion


def categorical_table(rows: int, seed: int = 0):
    """Numeric signal, per-level effects on every string, Zipf-like level frequencies
    for the 4,000-level one (1% missing)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict = {"row_id": np.arange(rows)}
    signal = np.zeros(rows)
    for i in range(6):
        x = rng.normal(size=rows).astype(np.float32)
        cols[f"num_{i}"] = x
        signal += x * (0.6 / (i + 1))
    for name, n in LOW_CARD.items():
        effect = rng.normal(0, 0.5, n)
        codes = rng.integers(0, n, rows)
        cols[name] = np.array([f"{name}_{k}" for k in range(n)], dtype=object)[codes]
        signal += effect[codes]
    weights = 1.0 / np.arange(1, HIGH_CARD + 1) ** 0.7
    codes = rng.choice(HIGH_CARD, size=rows, p=weights / weights.sum())
    effect = rng.normal(0, 0.8, HIGH_CARD)
    levels = np.array([f"z{k:04d}" for k in range(HIGH_CARD)], dtype=object)
    high = levels[codes]
    missing = rng.random(rows) < 0.01
    high[missing] = None
    cols["cat_zip"] = high
    signal += np.where(missing, 0.3, effect[codes])
    cols["y"] = (signal + rng.normal(0, 1.0, rows) > 0.3).astype(np.int8)
    return pd.DataFrame(cols)


def numeric_table(rows: int, seed: int = 0):
    frame = categorical_table(rows, seed)
    return frame[[c for c in frame.columns if not c.startswith("cat_")]]


def features_of(frame):
    from mlx.train.features import CATEGORICAL, NUMERIC, Feature

    out = []
    for c in frame.columns:
        if c in ("row_id", "y"):
            continue
        if c.startswith("cat_"):
            out.append(Feature(c, CATEGORICAL, tuple(sorted(frame[c].dropna().unique()))))
        else:
            out.append(Feature(c, NUMERIC))
    return out


def timed(fn, repeats: int = 1):
    """(median seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return median(times), result


def single_row_latency(call, rows: list, calls: int = 2000) -> tuple[float, float]:
    """p50, p99 in µs of one-row calls, rotating through distinct rows."""
    times = []
    for i in range(calls):
        row = rows[i % len(rows)]
        start = time.perf_counter_ns()
        call(row)
        times.append((time.perf_counter_ns() - start) / 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def in_process(frame, repeats: int) -> dict:
    from bench.export_legacy import legacy_to_onnx
    from mlx.train import export, fit, parity
    from mlx.train.features import CATEGORICAL, to_lightgbm_frame, to_onnx_inputs
    from mlx.train.thresholds import training_values
    from mlx.util.rowchunks import run_in_chunks

    features = features_of(frame)
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut], frame.iloc[cut:].reset_index(drop=True)
    params, rounds = fit.effective_params(PARAMS, "binary", 42, None)
    categorical = [f.name for f in features if f.kind == CATEGORICAL]
    x_train = to_lightgbm_frame(train, features)
    fit_s, raw = timed(
        lambda: fit.train_booster(x_train, train["y"].to_numpy(), params, rounds, categorical)
    )
    booster = fit.final_booster(raw)
    out: dict = {"rows": len(frame), "test_rows": len(test), "fit_s": fit_s}
    values_s, values = timed(lambda: training_values(train, features, booster))
    new_s, new = timed(lambda: export.to_onnx(booster, features, "binary", [0, 1], "b", values))
    old_s, old = timed(lambda: legacy_to_onnx(booster, features, "binary", [0, 1], "b", values))
    out["export_new_s"], out["export_old_s"] = values_s + new_s, values_s + old_s
    out["size_new_mb"], out["size_old_mb"] = len(new) / 1e6, len(old) / 1e6
    models = {"new": new, "old (onnxmltools)": old}
    if categorical:
        member_s, member = timed(
            lambda: export.to_onnx(booster, features, "binary", [0, 1], "b", values, "member")
        )
        models["before: opset-5 BRANCH_MEMBER on codes (main 287f3f4)"] = member
        out["export_member_s"], out["size_member_mb"] = values_s + member_s, len(member) / 1e6
        search_s, search = timed(
            lambda: export.to_onnx(booster, features, "binary", [0, 1], "b", values, "search")
        )
        models["new, fallback form (opset-3 code-range search)"] = search
        out["export_search_s"], out["size_search_mb"] = values_s + search_s, len(search) / 1e6
    out["models"] = models
    # as the train stage does it: a session, every held-out row scored (the metrics),
    # then the check on its sample (reusing those scores) and its probes
    session_s, checked = timed(lambda: export.session(new))
    out["export_new_s"] += session_s
    out["held_out_scoring_s"], held = timed(
        lambda: parity.onnx_predictions(checked, test, features, "binary")
    )
    parity_s, report = timed(
        lambda: parity.check_parity(checked, booster, test, features, "binary", values, held)
    )
    out["parity_s"], out["parity_max_diff"], out["parity_rows"] = (
        parity_s,
        report.max_abs_diff,
        report.rows,
    )
    x_test = to_lightgbm_frame(test, features)
    inputs = to_onnx_inputs(test, features)
    native = booster.predict(x_test)
    out["lightgbm_s"], _ = timed(lambda: booster.predict(x_test), repeats)
    out["lightgbm_1t_s"], _ = timed(lambda: booster.predict(x_test, num_threads=1), repeats)
    out["scoring"] = {}
    one_row = [{k: v[i : i + 1] for k, v in inputs.items()} for i in range(500)]
    for name, model in models.items():
        single = export.session(model, threads=1)
        if name == "new":  # what mlx's scorers do: row chunks, one-thread runs, all cores
            seconds, pred = timed(
                lambda s=single: run_in_chunks(lambda f: s.run(None, f), inputs), repeats
            )
            name = "new, mlx scorer (row chunks on a thread pool)"
            out["scoring"][name] = {
                "s": seconds,
                "max_diff": float(np.abs(pred[1][:, 1] - native).max()),
            }
            name = "new, one onnxruntime session"
        sess = export.session(model, threads=os.cpu_count() or 1)
        seconds, pred = timed(lambda sess=sess: sess.run(None, inputs), repeats)
        diff = float(np.abs(pred[1][:, 1] - native).max())
        one_thread, _ = timed(lambda s=single: s.run(None, inputs), repeats)
        p50, p99 = single_row_latency(lambda row, s=single: s.run(None, row), one_row)
        out["scoring"][name] = {
            "s": seconds,
            "s_1t": one_thread,
            "max_diff": diff,
            "p50_us": p50,
            "p99_us": p99,
        }
    codes = x_test.apply(lambda c: c.cat.codes.where(c.cat.codes >= 0) if hasattr(c, "cat") else c)
    matrix = codes.to_numpy(np.float64)
    lgb_rows = [matrix[i : i + 1] for i in range(500)]
    out["lightgbm_p50_us"], out["lightgbm_p99_us"] = single_row_latency(
        lambda row: booster.predict(row, num_threads=1), lgb_rows
    )
    return out


def make_project(folder: Path, frame) -> Path:
    import yaml

    root = folder / "project"
    subprocess.run([str(BIN / "mlx"), "init", str(root)], check=True, capture_output=True)
    (root / "data").mkdir()
    frame.to_parquet(root / "data" / "train.parquet", index=False)
    subprocess.run([str(BIN / "dvc"), "add", "-q", "data/train.parquet"], cwd=root, check=True)
    config = {
        "data": {"train": "data/train.parquet", "target": "y", "id": "row_id"},
        "model": {
            "name": "bench",
            "task": "binary",
            "params": PARAMS,
            "seed": 42,
            "max_categories": 5000,
        },
        "eval": {"perturbation": {"enabled": False}},
    }
    (root / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "bench data"], cwd=root, check=True)
    return root


def end_to_end(frame, folder: Path, repeats: int, online_rows=None) -> dict:
    """`mlx train` vs bare, fresh processes; with ``online_rows`` (held-out rows) also
    single-row latency at c=16 through `mlx serve` of the trained folder, before/after."""
    root = make_project(folder, frame)
    script = folder / "bare.py"
    script.write_text(f"PARAMS = {PARAMS!r}\n" + BARE)
    bare, mlx = [], []
    for _ in range(repeats):
        data = str(root / "data/train.parquet")
        bare.append(run([str(BIN / "python"), str(script), data, str(folder / "bare.onnx")]))
        mlx.append(run([str(BIN / "mlx"), "train", "--json"], cwd=root))
    meta = json.loads((root / "models/bench/metadata.json").read_text())
    out = {"bare_s": median(bare), "mlx_s": median(mlx), "phases": meta["runner"]["phases_s"]}
    if online_rows is not None:
        out["online"] = _online(root / "models/bench", online_rows, folder / "online")
    return out


def _online(model_dir: Path, rows, folder: Path) -> dict:
    """The folder as trained vs the same booster in the earlier graph forms."""
    import lightgbm as lgb

    from bench import export_online
    from bench.export_legacy import legacy_to_onnx
    from mlx.train import export
    from mlx.train.features import CATEGORICAL, Feature

    meta = json.loads((model_dir / "metadata.json").read_text())
    features = [Feature.from_dict(f) for f in meta["features"]]
    booster = lgb.Booster(model_file=str(model_dir / "model.lgb.txt"))
    forms = {"after: as `mlx train` wrote it": (model_dir / "model.onnx").read_bytes()}
    if any(f.kind == CATEGORICAL for f in features):
        forms["before (main 287f3f4): opset-5 BRANCH_MEMBER on codes"] = export.to_onnx(
            booster, features, "binary", [0, 1], "bench", {}, "member"
        )
    forms["before (issue): onnxmltools"] = legacy_to_onnx(
        booster, features, "binary", [0, 1], "bench", {}
    )
    return export_online.measure(forms, model_dir, export_online.rows_from(rows, features), folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-repeats", type=int, default=1)
    parser.add_argument("--no-train", action="store_true", help="skip `mlx train` vs bare")
    parser.add_argument(
        "--online", action="store_true", help="also c=16 single-row latency via `mlx serve`"
    )
    parser.add_argument("--write-doc", action="store_true", help="Update docs/benchmarks.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    results = {}
    for name, make in (("categorical-heavy", categorical_table), ("numeric only", numeric_table)):
        frame = make(args.rows)
        results[name] = in_process(frame, args.repeats)
        results[name].pop("models")
        print(f"measured {name} in process: {json.dumps(results[name])}", flush=True)
        if not args.no_train:
            held_out = frame.iloc[int(len(frame) * 0.8) :] if args.online else None
            with tempfile.TemporaryDirectory(dir=WORK) as tmp:
                e2e = end_to_end(frame, Path(tmp), args.train_repeats, held_out)
            results[name]["online"] = e2e.pop("online", None)
            results[name]["e2e"] = e2e
            print(f"measured {name} end to end", flush=True)
    load = f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    results["_load"] = load
    out = report({k: v for k, v in results.items() if not k.startswith("_")})
    print(out + "\n\n" + load)
    (WORK / "export_bench.json").write_text(json.dumps(results, indent=2))
    if args.write_doc:
        write_doc(results, args.rows, args.repeats)


if __name__ == "__main__":
    main()

"""`mlx tune` vs a bare Optuna + LightGBM loop, and TPE vs random search of the same budget.

One run builds a committed mlx project on ``--rows`` synthetic rows (default 100,000;
24 numeric + 6 categorical features, ``bench._common.synthetic_table``) with a 4-dim
``tune.space`` and then times, each in a fresh process (imports and data loading
included, as a user pays them):

- ``mlx tune --trials N --json`` with the default ``jobs: 1`` (sequential, every core per
  trial) and with ``--jobs <cores>`` (one trial per core, one LightGBM thread each);
- a bare loop: the script a user would write (read the Parquet file, split the same
  rows, ``study.optimize`` sequentially with TPE seeded alike, Optuna's median pruner,
  ``trial.report`` per LightGBM round, a Dataset per trial, all cores per fit);
- the same bare loop binning the data once (one ``lgb.Dataset`` pair reused by every
  trial, as mlx does), the fairer baseline;
- the same bare loop with Optuna's RandomSampler: the best value a random search
  reaches with the same budget.

Best values are the validation AUC on the same rows for all four. Target: ``mlx tune``
wall <= 1.1x the bare loop. ``python -m bench.tune_bench [--rows 100000] [--trials 50]
[--write-doc]``; ``--quick`` = 20,000 rows, 10 trials.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench._common import BIN, WORK, machine, make_train_project, table, update_doc_section

PARAMS = {"num_iterations": 100, "learning_rate": 0.05, "num_leaves": 31}
SPACE = {
    "num_leaves": {"kind": "int", "low": 8, "high": 127},
    "learning_rate": {"kind": "float", "low": 0.01, "high": 0.3, "log": True},
    "feature_fraction": {"kind": "float", "low": 0.5, "high": 1.0},
    "lambda_l2": {"kind": "float", "low": 0.001, "high": 10.0, "log": True},
}
SEED = 42

# the loop a user writes without mlx: same rows (mlx's split: 20% test, then 10% of the
# rest for validation, stratified, seeds 42/43), same sampler seed, pruner and budget
BARE = r"""
import json, sys, time
t0 = time.perf_counter()
import lightgbm as lgb, numpy as np, optuna, pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

path, n_trials, sampler_name, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
space = json.loads(sys.argv[5]); base = json.loads(sys.argv[6]); once = sys.argv[7] == "once"
df = pd.read_parquet(path)
y = df["y"].to_numpy()
def split(idx, size, s):
    a, b = train_test_split(idx, test_size=size, random_state=s, stratify=y[idx], shuffle=True)
    return np.sort(a), np.sort(b)
train_idx, _ = split(np.arange(len(df)), 0.2, seed)
fit_idx, valid_idx = split(train_idx, 0.1, seed + 1)
X = df.drop(columns=["y", "row_id"])
for c in X.columns:
    if X[c].dtype == object or str(X[c].dtype) in ("str", "string"):
        X[c] = X[c].astype("category")
Xf, Xv, yf, yv = X.iloc[fit_idx], X.iloc[valid_idx], y[fit_idx], y[valid_idx]
rounds = base.pop("num_iterations")
shared = None
if once:  # the careful user: bin the data once, reuse it in every trial
    shared = lgb.Dataset(Xf, yf, free_raw_data=False)
    shared = (shared, lgb.Dataset(Xv, yv, reference=shared))

def objective(trial):
    p = dict(base, objective="binary", metric="auc", verbosity=-1, seed=seed,
             deterministic=True, force_col_wise=True)
    for k, d in space.items():
        if d["kind"] == "int":
            p[k] = trial.suggest_int(k, d["low"], d["high"], log=d.get("log", False))
        else:
            p[k] = trial.suggest_float(k, d["low"], d["high"], log=d.get("log", False))
    if shared:
        dtrain, dvalid = shared
    else:
        dtrain = lgb.Dataset(Xf, yf)
        dvalid = lgb.Dataset(Xv, yv, reference=dtrain)
    def prune(env):
        value = env.evaluation_result_list[0][2]
        trial.report(value, env.iteration)
        if trial.should_prune():
            raise optuna.TrialPruned()
    booster = lgb.train(p, dtrain, rounds, valid_sets=[dvalid], callbacks=[prune])
    return roc_auc_score(yv, booster.predict(Xv))

optuna.logging.set_verbosity(optuna.logging.WARNING)
sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
           else optuna.samplers.RandomSampler(seed=seed))
study = optuna.create_study(direction="maximize", sampler=sampler,
                            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10))
study.optimize(objective, n_trials=n_trials)
states = [t.state.name for t in study.trials]
print(json.dumps({"best": study.best_value, "pruned": states.count("PRUNED"),
                  "complete": states.count("COMPLETE"), "inner_s": time.perf_counter() - t0}))
"""


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def timed(cmd: list[str], cwd: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 10 trials, no doc")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.trials, args.write_doc = 20_000, 10, False
    tune = {"trials": args.trials, "metric": "auc", "space": SPACE}
    root = make_train_project(WORK / "tune" / "proj", args.rows, dict(PARAMS), {"tune": tune})
    script = root.parent / "bare_loop.py"
    script.write_text(BARE)
    data = root / "data" / "train.parquet"
    print(f"{args.rows:,} rows, {args.trials} trials, {machine()}", flush=True)

    def bare(sampler: str, datasets: str = "per-trial") -> tuple[float, dict]:
        cmd = [sys.executable, str(script), str(data), str(args.trials), sampler, str(SEED),
               json.dumps(SPACE), json.dumps(PARAMS), datasets]  # fmt: skip
        return timed(cmd, root)

    mlx = str(BIN / "mlx")
    results = {
        "bare": bare("tpe"),
        "bare_once": bare("tpe", "once"),
        "mlx": timed([mlx, "tune", "--trials", str(args.trials), "--json"], root),
        "mlx0": timed(
            [mlx, "tune", "--trials", str(args.trials), "--jobs", str(_cores()), "--json"], root
        ),  # fmt: skip
        "random": bare("random"),
    }
    t_bare = results["bare"][0]
    t_once = results["bare_once"][0]
    rows = []
    for key, label in (
        ("mlx", "mlx tune (default jobs: 1, all cores per trial)"),
        ("mlx0", "mlx tune --jobs <cores> (1 thread per trial)"),
        ("bare", "bare Optuna + LightGBM loop (TPE)"),
        ("bare_once", "bare loop, Dataset built once"),
        ("random", "bare loop, RandomSampler"),
    ):
        wall, doc = results[key]
        if key.startswith("mlx"):
            best, pruned = doc["best"]["value"], doc["counts"]["pruned"]
            jobs = doc["jobs"]
        else:
            best, pruned, jobs = doc["best"], doc["pruned"], 1
        rows.append([label, str(jobs), f"{wall:.1f}", f"{wall / t_bare:.2f}x",
                     f"{wall / t_once:.2f}x", f"{best:.4f}", str(pruned)])  # fmt: skip
    text = table(["search", "trials at once", "wall s", "vs bare loop", "vs bare, Dataset once",
                  "best val AUC", "pruned"], rows)  # fmt: skip
    print(text)
    if args.write_doc:
        body = (
            f"`python -m bench.tune_bench --rows {args.rows} --trials {args.trials}` on "
            f"{machine()}; one run each, every search in a fresh process (start-up and data "
            f"loading included). {args.rows:,} synthetic rows (24 numeric + 6 categorical "
            f"features), 100 rounds per trial, space num_leaves 8-127, learning_rate 0.01-0.3 "
            f"(log), feature_fraction 0.5-1, lambda_l2 0.001-10 (log); median pruning (5 startup "
            f"trials, 10 warm-up rounds) everywhere; best value = AUC on the same validation "
            f"rows. Target: mlx tune <= 1.1x the bare loop.\n\n{text}\n"
            "\nRead ratios, not seconds: one run per row on a shared machine. The bare loop "
            "as usually written bins the data in every trial; 'Dataset built once' is the "
            "careful version (what mlx does).\n"
        )
        update_doc_section("mlx tune: search wall time and quality", body)


if __name__ == "__main__":
    main()

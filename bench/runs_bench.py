"""`mlx runs` over many trained commits vs `dvc exp show` and MLflow's `search_runs`.

One run builds, for N runs (default 500):

- an mlx project whose history holds N trained-and-evaluated commits. The first model
  is really trained (`mlx train` + `mlx eval` on the example); the other N-1 commits
  rewrite its `metadata.json` and `eval/metrics.json` with other params, model md5 and
  metrics, as a retrain would (same file sizes, reference profile included), so the
  reading cost is the real one without N trainings;
- a DVC project with one stage and N experiments under `refs/exps/` (each a commit
  with its own params.yaml and metrics.json, what `dvc exp run` leaves);
- an MLflow tracking store (sqlite, in its own venv bench/.venvs/mlflow) with N runs of
  the same params and metrics.

Timed: `mlx runs --json` (all N), `dvc exp show --json`, and MLflow `search_runs` over
the N runs in a fresh process (its start included, as a CLI user pays it), median of
``--repeats``. ``python -m bench.runs_bench [--runs 500] [--repeats 5] [--write-doc]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench._common import BIN, ROOT, WORK, machine, median, table, update_doc_section

VENV = ROOT / "bench" / ".venvs" / "mlflow"
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip


def sh(*cmd: str, cwd: Path, input: bytes | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.decode()}")
    return proc.stdout.decode().strip()


def mlx_repo(n: int) -> Path:
    root = WORK / "runs" / "churn"
    shutil.rmtree(root.parent, ignore_errors=True)
    root.parent.mkdir(parents=True)
    sh(str(BIN / "mlx"), "init", "churn", "--example", cwd=root.parent)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "setup", cwd=root)
    sh(str(BIN / "mlx"), "train", "--commit", cwd=root)
    subprocess.run([str(BIN / "mlx"), "eval", "--commit"], cwd=root, env=ENV, capture_output=True)
    folder = root / "models" / "churn"
    meta = json.loads((folder / "metadata.json").read_text())
    ev = json.loads((folder / "eval" / "metrics.json").read_text())
    for i in range(1, n):
        md5 = f"{i:032x}"
        meta["onnx"]["md5"] = md5
        meta["params"]["num_leaves"] = 8 + i % 200
        meta["metrics"] = {k: v * (1 + (i % 7) / 100) for k, v in meta["metrics"].items()}
        ev["model"]["md5"] = md5
        ev["metrics"] = meta["metrics"]
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2))
        (folder / "eval" / "metrics.json").write_text(json.dumps(ev, indent=2))
        sh("git", "commit", "-qam", f"Train churn {i}", cwd=root)
    return root


def dvc_repo(n: int) -> Path:
    root = WORK / "runs" / "dvcexp"
    root.mkdir(parents=True)
    sh("git", "init", "-q", cwd=root)
    sh(str(BIN / "dvc"), "init", "-q", cwd=root)
    (root / "params.yaml").write_text("model:\n  num_leaves: 31\n  learning_rate: 0.1\n")
    (root / "seed.json").write_text(json.dumps({"auc": 0.8, "log_loss": 0.4}))
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: cp seed.json metrics.json\n    params: [model]\n"
        "    metrics: [{metrics.json: {cache: false}}]\n"
    )
    sh(str(BIN / "dvc"), "repro", "-q", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "baseline", cwd=root)
    base = sh("git", "rev-parse", "HEAD", cwd=root)
    env_index = {**ENV, "GIT_INDEX_FILE": str(root.parent / "exp.index")}
    for i in range(n):
        params = f"model:\n  num_leaves: {8 + i % 200}\n  learning_rate: 0.1\n".encode()
        metrics = json.dumps({"auc": 0.8 + (i % 7) / 100, "log_loss": 0.4}).encode()
        blobs = [
            subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, input=b, capture_output=True,
                           check=True).stdout.decode().strip()
            for b in (params, metrics)
        ]  # fmt: skip
        subprocess.run(["git", "read-tree", base], cwd=root, env=env_index, check=True)
        for blob, name in zip(blobs, ("params.yaml", "metrics.json"), strict=True):
            subprocess.run(["git", "update-index", "--cacheinfo", f"100644,{blob},{name}"], cwd=root,
                           env=env_index, check=True)  # fmt: skip
        tree = subprocess.run(["git", "write-tree"], cwd=root, env=env_index, capture_output=True,
                              check=True).stdout.decode().strip()  # fmt: skip
        commit = sh("git", "commit-tree", tree, "-p", base, "-m", f"exp {i}", cwd=root)
        sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/exp-{i:04d}", commit, cwd=root)
    return root


MLFLOW_LOG = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_experiment("churn")
for i in range(int(sys.argv[2])):
    with mlflow.start_run(run_name=f"run-{i}"):
        mlflow.log_params({"num_leaves": 8 + i % 200, "learning_rate": 0.1})
        mlflow.log_metrics({"auc": 0.8 + (i % 7) / 100, "log_loss": 0.4})
"""
MLFLOW_SEARCH = """
import sys, time, mlflow
t0 = time.perf_counter()
mlflow.set_tracking_uri(sys.argv[1])
runs = mlflow.search_runs(experiment_names=["churn"], max_results=100000)
print(len(runs), time.perf_counter() - t0)
"""


def mlflow_python() -> Path | None:
    python = VENV / "bin" / "python"
    try:
        if not python.exists():
            print("creating the MLflow venv (bench/.venvs/mlflow) ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        if subprocess.run([str(python), "-c", "import mlflow"], capture_output=True).returncode:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow"], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"MLflow unavailable: {exc}")
        return None
    return python


def timed(cmd: list[str], cwd: Path, repeats: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd}: {proc.stderr}")
        out = proc.stdout
    return median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true", help="skip MLflow")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    n = args.runs
    print(f"building {n} runs for mlx, DVC and MLflow ...", flush=True)
    mlx_root, dvc_root = mlx_repo(n), dvc_repo(n)

    rows, ratios = [], {}
    t_mlx, out = timed([str(BIN / "mlx"), "runs", "--json"], mlx_root, args.repeats)
    listed = len(json.loads(out)["runs"])
    t_mlx_table, _ = timed([str(BIN / "mlx"), "runs", "--limit", "20"], mlx_root, args.repeats)
    t_dvc, out = timed(
        [str(BIN / "dvc"), "exp", "show", "--json"], dvc_root, max(1, args.repeats // 2)
    )
    dvc_listed = sum(len(b.get("experiments") or []) for b in json.loads(out))
    rows.append(["mlx runs --json", f"{listed}", f"{t_mlx:.2f}", "1.00x"])
    rows.append(
        [
            "mlx runs --limit 20 (table)",
            f"{listed}",
            f"{t_mlx_table:.2f}",
            f"{t_mlx_table / t_mlx:.2f}x",
        ]
    )
    rows.append(["dvc exp show --json", f"{dvc_listed}", f"{t_dvc:.2f}", f"{t_dvc / t_mlx:.2f}x"])
    ratios["dvc"] = t_dvc / t_mlx
    python = None if args.no_peers else mlflow_python()
    if python is not None:
        store = f"sqlite:///{WORK / 'runs' / 'mlflow.db'}"
        (WORK / "runs" / "log.py").write_text(MLFLOW_LOG)
        (WORK / "runs" / "search.py").write_text(MLFLOW_SEARCH)
        subprocess.run([str(python), str(WORK / "runs" / "log.py"), store, str(n)], check=True,
                       capture_output=True, cwd=WORK / "runs")  # fmt: skip
        t_ml, out = timed(
            [str(python), str(WORK / "runs" / "search.py"), store], WORK / "runs", args.repeats
        )
        count, inner = out.split()[-2:]
        rows.append(
            ["MLflow search_runs (fresh process)", count, f"{t_ml:.2f}", f"{t_ml / t_mlx:.2f}x"]
        )
        rows.append(
            [
                "MLflow search_runs (call only)",
                count,
                f"{float(inner):.2f}",
                f"{float(inner) / t_mlx:.2f}x",
            ]
        )
    text = table(["command", "runs listed", "wall s (median)", "vs mlx runs"], rows)
    print(text)
    if args.write_doc:
        body = (
            f"`python -m bench.runs_bench --runs {n} --repeats {args.repeats}` on {machine()}.\n"
            f"{n} trained-and-evaluated commits on one branch for `mlx runs` (the first model really\n"
            f"trained, the others rewrite its metadata.json and eval results as retrains do), {n}\n"
            f"experiments under refs/exps/ for `dvc exp show`, {n} runs in an MLflow sqlite store.\n"
            f"Target: `mlx runs` under 1 s on 500 commits.\n\n{text}\n"
        )
        update_doc_section("mlx runs: listing runs from Git", body)


if __name__ == "__main__":
    main()

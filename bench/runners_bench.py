"""Local vs a 2-worker loopback Dask cluster: training and batch scoring.

    python -m bench.runners_bench [--train-rows 2000000] [--score-rows 5000000]
                                  [--repeats 1] [--quick] [--write-doc]

Training: ``mlx train`` (LightGBM on this machine, all cores) vs ``mlx train --runner
cluster`` (the same stage, boosting by ``lightgbm.dask`` on two worker processes with one
thread each) on the same Parquet file and parameters. Batch scoring: ``mlx serve REF
--batch`` vs the same with ``--runner cluster``. Every command is a fresh process
(imports included). On one 2-core machine the cluster cannot be faster: the figures are
the overhead ratio and the peak memory of each worker, so users know what scale the
dask runner is for. The cluster is started once (its start-up time is reported apart)
and its workers are restarted before each measurement so their peak RSS is per task.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench._common import (
    BIN,
    WORK,
    machine,
    make_train_project,
    median,
    synthetic_table,
    table,
    update_doc_section,
)

PARAMS = {"num_iterations": 100, "num_leaves": 31, "learning_rate": 0.1}
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if proc.returncode:
    sys.stderr.write(proc.stdout + proc.stderr)
print(f"{wall} {peak}")
sys.exit(proc.returncode)
"""


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a command run as a fresh process."""
    import os

    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    wall, peak_kib = out.stdout.split()
    return float(wall), int(peak_kib) / 1024


class Cluster:
    """`dask scheduler` + two `dask worker` processes on loopback."""

    def __init__(self, folder: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.folder = folder
        self.procs: list[subprocess.Popen] = []

    def start(self) -> float:
        from distributed import Client

        started = time.perf_counter()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": self.folder}
        dask = str(BIN / "dask")
        self.procs.append(
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
                + ["--no-dashboard"],
                **quiet,
            )
        )
        for i in range(2):
            self.procs.append(
                subprocess.Popen(
                    [dask, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1"]
                    + ["--nworkers", "1", "--no-dashboard", "--name", f"w{i}"]
                    + ["--local-directory", str(self.folder / f"w{i}")],
                    **quiet,
                )
            )
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        return time.perf_counter() - started

    def restart(self) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.restart(wait_for_workers=True)
            client.wait_for_workers(2, timeout=120)

    def peak_rss_mib(self) -> list[float]:
        """Peak RSS of each worker process since its last restart."""
        from distributed import Client

        def peak() -> float:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        with Client(self.address, timeout=60) as client:
            return sorted(client.run(peak).values())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_project(folder: Path, rows: int, scheduler: str) -> Path:
    runners = {"runners": {"cluster": {"kind": "dask", "scheduler": scheduler}}}
    return make_train_project(folder / "project", rows, PARAMS, runners)


def bench_train(root: Path, cluster: Cluster, repeats: int) -> dict:
    out: dict = {"local": [], "passive": [], "dask": []}
    for _ in range(repeats):
        wall, rss = timed([str(BIN / "mlx"), "train", "--json"], root)
        meta = json.loads((root / "models/bench/metadata.json").read_text())
        out["local"].append({"wall": wall, "rss": rss, "meta": _brief(meta)})
        # the same, with OpenMP threads sleeping instead of spinning while they wait: on a
        # machine other processes also use, spinning threads steal each other's cores
        wall, rss = timed(
            [str(BIN / "mlx"), "train", "--json"], root, {"OMP_WAIT_POLICY": "passive"}
        )
        meta = json.loads((root / "models/bench/metadata.json").read_text())
        out["passive"].append({"wall": wall, "rss": rss, "meta": _brief(meta)})
        cluster.restart()
        wall, rss = timed([str(BIN / "mlx"), "train", "--runner", "cluster", "--json"], root)
        meta = json.loads((root / "models/bench/metadata.json").read_text())
        out["dask"].append(
            {"wall": wall, "rss": rss, "workers_rss": cluster.peak_rss_mib(), "meta": _brief(meta)}
        )
    return out


def _brief(meta: dict) -> dict:
    return {
        "fit_s": meta["runner"]["phases_s"].get("fit"),
        "auc": meta["metrics"]["auc"],
        "parity": meta["parity"]["max_abs_diff"],
    }


def bench_score(root: Path, cluster: Cluster, rows: int, repeats: int) -> dict | None:
    """Batch scoring local vs cluster (needs `mlx serve --batch` and its --runner)."""
    try:
        import mlx.scoring.chunks  # noqa: F401
    except ImportError:
        return None
    data = root / "score.parquet"
    synthetic_table(rows, seed=1).drop(columns=["y"]).to_parquet(data, index=False)
    ref = str(root / "models" / "bench")
    out: dict = {"local": [], "dask": []}
    base = [str(BIN / "mlx"), "serve", ref, "--batch", str(data), "--json"]
    for _ in range(repeats):
        wall, rss = timed([*base, "--output", str(root / "scored-local.parquet")], root)
        out["local"].append({"wall": wall, "rss": rss})
        cluster.restart()
        wall, rss = timed(
            [*base, "--output", str(root / "scored-dask.parquet"), "--runner", "cluster"], root
        )
        out["dask"].append({"wall": wall, "rss": rss, "workers_rss": cluster.peak_rss_mib()})
    return out


def report(args, startup: float, idle: list[float], train: dict, score: dict | None) -> str:
    loc, dsk = train["local"], train["dask"]
    lw, dw = median([r["wall"] for r in loc]), median([r["wall"] for r in dsk])
    lf, df = median([r["meta"]["fit_s"] for r in loc]), median([r["meta"]["fit_s"] for r in dsk])
    workers = dsk[-1]["workers_rss"]
    pas = train["passive"]
    pw, pf = median([r["wall"] for r in pas]), median([r["meta"]["fit_s"] for r in pas])
    rows = [
        [
            f"train {args.train_rows:,} × 30",
            f"{lw:.1f}",
            f"{dw:.1f}",
            f"{dw / lw:.2f}×",
            f"{lf:.1f} / {df:.1f} ({df / lf:.2f}×)",
            f"{loc[-1]['rss']:.0f}",
            f"{dsk[-1]['rss']:.0f}",
            " / ".join(f"{w:.0f}" for w in workers),
        ],
        [
            "train, local with OMP_WAIT_POLICY=passive",
            f"{pw:.1f}",
            f"{dw:.1f}",
            f"{dw / pw:.2f}×",
            f"{pf:.1f} / {df:.1f} ({df / pf:.2f}×)",
            f"{pas[-1]['rss']:.0f}",
            "",
            "",
        ],
    ]
    if score is not None:
        sl, sd = score["local"], score["dask"]
        sw, sdw = median([r["wall"] for r in sl]), median([r["wall"] for r in sd])
        rows.append(
            [
                f"score {args.score_rows:,}",
                f"{sw:.1f}",
                f"{sdw:.1f}",
                f"{sdw / sw:.2f}×",
                "",
                f"{sl[-1]['rss']:.0f}",
                f"{sd[-1]['rss']:.0f}",
                " / ".join(f"{w:.0f}" for w in sd[-1]["workers_rss"]),
            ]
        )
    headers = [
        "task",
        "local (s)",
        "dask (s)",
        "dask / local",
        "fit phase local / dask (s)",
        "local RSS (MiB)",
        "dask client RSS (MiB)",
        "worker peak RSS (MiB)",
    ]
    quality = (
        f"AUC local {loc[-1]['meta']['auc']:.4f}, dask {dsk[-1]['meta']['auc']:.4f}; "
        f"parity max |Δ| local {loc[-1]['meta']['parity']:.1e}, dask {dsk[-1]['meta']['parity']:.1e}"
    )
    import os

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    extra = (
        f"Load average at the end (1/5/15 min): {load} on {os.cpu_count()} cores. "
        f"Cluster start-up (scheduler + 2 workers ready): {startup:.1f} s; idle worker RSS "
        f"{' / '.join(f'{w:.0f}' for w in idle)} MiB. {quality}."
    )
    if score is None:
        extra += " Batch scoring on the cluster: not measured (`mlx serve --batch` is not on this branch)."
    return table(headers, rows) + "\n\n" + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=2_000_000)
    parser.add_argument("--score-rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200k / 500k rows, for development")
    parser.add_argument("--write-doc", action="store_true", help="Update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.train_rows, args.score_rows = 200_000, 500_000
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        folder = Path(tmp)
        cluster = Cluster(folder)
        try:
            startup = cluster.start()
            idle = cluster.peak_rss_mib()
            root = make_project(folder, args.train_rows, cluster.address)
            print("data ready; training", flush=True)
            train = bench_train(root, cluster, args.repeats)
            print("training measured; scoring", flush=True)
            score = bench_score(root, cluster, args.score_rows, args.repeats)
        finally:
            cluster.stop()
    out = report(args, startup, idle, train, score)
    print(out)
    (WORK / "runners_bench.json").write_text(json.dumps({"train": train, "score": score}, indent=2))
    if args.write_doc:
        update_doc_section(
            "Runners",
            f"`python -m bench.runners_bench --train-rows {args.train_rows} --score-rows "
            f"{args.score_rows} --repeats {args.repeats}` on {date.today()} ({machine()}). "
            f"LightGBM {PARAMS}, binary, 24 numeric + 6 categorical "
            "features, Parquet input. "
            "Local = one process using both cores; dask = `--runner cluster`, a scheduler and "
            "two worker processes with one thread each on loopback (the same two cores). Every "
            "command is a fresh process; workers are restarted before each measurement.\n\n" + out,
        )


if __name__ == "__main__":
    main()

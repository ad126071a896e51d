"""Serving benchmark: ``python -m bench.serve`` (or ``make bench-serve``).

mlx serve vs MLflow ``models serve``, MLServer (LightGBM runtime), a bare Starlette +
onnxruntime app and the same app answering a constant, under wrk; the raw onnxruntime
call as the floor; batch scoring of 1M Parquet rows vs a bare onnxruntime loop and
LightGBM's predict. Prints tables with ratios, dumps JSON under bench/.work/serve/ and
with ``--write-doc`` rewrites the "Serving" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench._common import update_doc_section
from bench.serve import batch, floor, loadgen, online, payloads, procs, report, servers, venvs
from bench.serve.models import train_models
from bench.serve.paths import DOC, REPO, WORK


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short windows, 1 round, 100k batch rows")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    p.add_argument("--warmup", type=float, help="warm-up seconds before each (default 3)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 2)")
    p.add_argument("--concurrency", default="1,16,64", help="connections, comma-separated")
    p.add_argument("--models", default="synth,churn", help="which models: synth,churn")
    p.add_argument("--no-peers", action="store_true", help="skip MLflow and MLServer")
    p.add_argument("--no-batch", action="store_true", help="skip the batch benchmark")
    p.add_argument("--batch-rows", type=int, help="rows in the batch file (default 1,000,000)")
    p.add_argument("--mlx", default=str(Path(sys.executable).parent / "mlx"), help="mlx binary")
    p.add_argument(
        "--mlx-args",
        default="",
        help="extra `mlx serve` flags, e.g. '--no-access-log' (default: the project's config)",
    )
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    p.add_argument("--retrain", action="store_true", help="retrain the models")
    p.add_argument(
        "--write-doc", action="store_true", help="rewrite the Serving section of docs/benchmarks.md"
    )
    return p.parse_args(argv)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("mlx-mlops", "onnxruntime", "lightgbm", "starlette", "uvicorn", "orjson"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    for peer, dist in (("mlflow", "mlflow"), ("mlserver", "mlserver")):
        v = venvs.Venv(peer, venvs.VENVS / peer)
        out[dist] = venvs.version(v, dist) if v.python.exists() else None
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = loadgen.check_wrk()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    procs.install_cleanup()
    settings = online.Settings(
        warmup=args.warmup or (1.0 if args.quick else 3.0),
        duration=args.duration or (3.0 if args.quick else 10.0),
        rounds=args.rounds or (1 if args.quick else 2),
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        peers=not args.no_peers,
        mlx_bin=args.mlx,
        mlx_args=tuple(shlex.split(args.mlx_args)),
    )
    batch_rows = args.batch_rows or (100_000 if args.quick else 1_000_000)
    started = time.time()
    load_before = _load()
    log = print
    mlx_skip = servers.mlx_available(args.mlx)
    if mlx_skip:
        log(f"note: {mlx_skip}; mlx rows are reported as not measured")

    models = train_models(retrain=args.retrain, log=log)
    results: dict = {"models": {}}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model = models[name]
        log(f"\n== {model.describe()}")
        rows = payloads.sample_rows(model)
        log("  floor: raw onnxruntime session call")
        floor_res = floor.measure(model, rows, seconds=0.3 if args.quick else 1.0)
        results["models"][name] = {
            "describe": model.describe(),
            "floor": floor_res,
            "online": online.run(model, rows, settings, log=log),
        }
    if not args.no_batch:
        log(f"\n== batch: {batch_rows:,} rows")
        results["batch"] = batch.measure(
            models["synth"], batch_rows, args.mlx, mlx_skip, repeats=1 if args.quick else 2, log=log
        )

    all_runs = [
        run
        for m in results["models"].values()
        for srv in m["online"].values()
        for run in srv.get("online", {}).values()
    ]
    wrk_cpu = [run.get("wrk_cpu", 0.0) for run in all_runs]
    top_rps = max((run.get("rps", 0.0) for run in all_runs), default=0.0)
    versions = _versions()
    command = "python -m bench.serve" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    results["meta"] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.time() - started),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "load_before": load_before,
            "load_after": _load(),
        },
        "command": command.strip(),
        "loadgen": (
            f"wrk ({_wrk_version()}) with one thread and a Lua script that posts single-row "
            f"bodies rotating through {payloads.ROWS:,} distinct rows "
            f"(`bench/serve/loadgen.py`); wrk used at most {max(wrk_cpu, default=0):.2f} of a "
            f"core in any measurement (kernel child accounting) and drove up to {top_rps:,.0f} "
            "req/s in this run, so it was not the bottleneck."
        ),
        "settings": {
            "warmup_s": settings.warmup,
            "duration_s": settings.duration,
            "rounds": settings.rounds,
            "concurrency": list(settings.concurrency),
            "batch_rows": batch_rows,
        },
        "settings_text": (
            f"{settings.rounds} interleaved round(s) (order reversed every other round; "
            f"figures are medians over rounds), {settings.warmup:g} s warm-up + "
            f"{settings.duration:g} s per measurement, all servers of a model up side by side "
            "and loaded one at a time"
        ),
        "versions": versions,
        "versions_text": ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        "notes": [
            "MLflow and MLServer serve LightGBM's native booster of the same model (same "
            "trees); categorical features reach them as LightGBM's category codes, since "
            "neither takes pandas categoricals over JSON. Both run with OMP_NUM_THREADS=1.",
            "mlx and the reference apps take V2 JSON with one [1, 1] input per feature (mlx's "
            "ONNX inputs); MLServer takes one [1, F] FP64 tensor; MLflow takes "
            "`dataframe_split`. Every server's answers were checked against onnxruntime / "
            "LightGBM before it was loaded.",
            "mlx serve runs with the temp project's default `serve` settings plus only the "
            "flags shown below (defaults include a JSON access-log line per request and "
            "Parquet prediction logs); the reference apps log nothing.",
            "RSS per worker = RSS summed over the server's process tree / its workers (shared "
            "pages counted in each process; PSS splits them).",
            "½ peak: wrk with a fixed think time per connection (closed loop), tuned to half "
            "of the server's best throughput above.",
            *args.note,
        ],
    }
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    dump = WORK / f"results-{stamp}.json"
    dump.write_text(json.dumps(results, indent=2))
    (WORK / "results-latest.json").write_text(json.dumps(results, indent=2))
    text = report.render(results)
    print(f"\n## {report.SECTION}\n\n{text}")
    print(f"JSON: {dump.relative_to(REPO)}")
    if args.write_doc:
        update_doc_section(report.SECTION, text, DOC)
        print(f"wrote the {report.SECTION} section of {DOC.relative_to(REPO)}")
    return 0


def _wrk_version() -> str:
    import subprocess

    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    first = (proc.stdout or proc.stderr).splitlines()[:1]
    return first[0].split(" [")[0] if first else "wrk"


if __name__ == "__main__":
    raise SystemExit(main())

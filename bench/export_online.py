"""Online single-row latency through `mlx serve` for different graph forms of one model.

Used by ``bench/export_bench.py`` (``--online``): the model folder `mlx train` wrote is
copied once per graph form (its ``model.onnx`` replaced, ``metadata.json``'s md5
updated, no DVC pointer), each copy is served by ``mlx serve DIR`` (one worker, the
default config) and loaded by ``wrk`` (one thread, ``c`` connections) posting
single-row V2 JSON bodies that rotate through distinct held-out rows
(bench/serve/loadgen.py). The forms are measured one after another, interleaved over
``rounds``; the median of the rounds is reported.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from bench._common import BIN
from bench.serve import loadgen, procs
from bench.serve.payloads import Rows, write_bodies


def rows_from(frame, features, n: int = 500) -> Rows:
    """Distinct single rows of ``frame`` as V2 bodies take them ("" = missing)."""
    names = [f.name for f in features]
    kinds = [f.kind for f in features]
    raw = []
    for rec in frame[names].head(n).itertuples(index=False):
        row = []
        for v, k in zip(rec, kinds, strict=True):
            if k == "categorical":
                row.append("" if v is None or v != v else str(v))
            else:
                row.append(float(round(float(v), 6)))
        raw.append(row)
    return Rows(names, kinds, raw, np.empty((0, 0)), np.empty(0), np.empty(0))


def variant_folder(model_dir: Path, onnx_bytes: bytes, target: Path) -> Path:
    """A copy of the model folder serving ``onnx_bytes`` (md5 recorded, no pointer)."""
    import hashlib

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("*.dvc"))
    (target / "model.onnx").write_bytes(onnx_bytes)
    meta_path = target / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["onnx"]["md5"] = hashlib.md5(onnx_bytes).hexdigest()
    meta_path.write_text(json.dumps(meta, indent=2))
    return target


def _answer(url: str, body: str) -> str | None:
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            json.loads(resp.read())
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return f"the server did not answer a row: {exc}"


def measure(
    forms: dict[str, bytes],
    model_dir: Path,
    rows: Rows,
    folder: Path,
    connections: int = 16,
    seconds: float = 5.0,
    warmup: float = 2.0,
    rounds: int = 1,
) -> dict[str, dict]:
    """{form: {p50_ms, p99_ms, rps, errors}} at ``connections`` through `mlx serve`."""
    missing = loadgen.check_wrk()
    if missing:
        return {name: {"error": missing} for name in forms}
    folder.mkdir(parents=True, exist_ok=True)
    bodies = write_bodies(rows, "v2", folder / "bodies.jsonl")
    first = bodies.read_text().splitlines()[0]
    dirs = {
        name: variant_folder(model_dir, data, folder / f"form{i}")
        for i, (name, data) in enumerate(forms.items())
    }
    runs: dict[str, list] = {name: [] for name in forms}
    errors: dict[str, str] = {}
    for r in range(rounds):
        for name, d in dirs.items():
            if name in errors:
                continue
            port = procs.free_port()
            cmd = [str(BIN / "mlx"), "serve", str(d), "--port", str(port)]
            server = procs.start(f"form{r}", cmd, folder / "serve.log", port, cwd=folder)
            try:
                base = f"http://127.0.0.1:{port}"
                problem = procs.wait_ready(server, base + "/v2/health/ready", 120)
                meta = json.loads((d / "metadata.json").read_text())
                infer = f"{base}/v2/models/{meta['name']}/infer"
                problem = problem or _answer(infer, first)
                if problem:
                    errors[name] = problem
                    continue
                loadgen.run_wrk(infer, bodies, connections, warmup, folder)
                result = loadgen.run_wrk(infer, bodies, connections, seconds, folder, server.pids())
                if result.error:
                    errors[name] = result.error
                else:
                    runs[name].append(result)
            finally:
                server.stop()
    out: dict[str, dict] = {}
    for name, results in runs.items():
        if name in errors:
            out[name] = {"error": errors[name]}
            continue
        out[name] = {
            "p50_ms": float(np.median([x.p50_ms for x in results])),
            "p99_ms": float(np.median([x.p99_ms for x in results])),
            "rps": float(np.median([x.rps for x in results])),
            "errors": int(sum(x.errors for x in results)),
            "connections": connections,
        }
    return out

"""How to start each server under test, on a free loopback port, for one model.

Every spec knows its command, readiness URL, inference URL and request protocol. A
spec that cannot run (peer venv failed to install, ``mlx serve`` missing) carries the
reason instead, and the report shows it as a row rather than stopping the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.serve import procs, venvs
from bench.serve.models import Model, peer_booster
from bench.serve.paths import HERE

READY_TIMEOUT = 120.0


@dataclass
class Spec:
    key: str  # short id: mlx, mlx-2w, bare, const, mlflow, mlserver, mlserver-pw0
    label: str  # what the table shows
    protocol: str  # v2 | mlserver | mlflow (body format, see payloads.py)
    workers: int = 1
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_path: str = "/v2/health/ready"
    infer_path: str = ""
    check: bool = True  # compare answers with the reference scores before loading
    skip: str | None = None  # why this server is not measured
    port: int = 0


def mlx_available(mlx_bin: str) -> str | None:
    """None if ``mlx serve`` exists, else the reason to skip mlx."""
    try:
        proc = subprocess.run([mlx_bin, "serve", "--help"], capture_output=True, text=True)
    except OSError as exc:
        return f"mlx serve not available ({exc})"
    if proc.returncode != 0:
        return "mlx serve not available (this checkout has no `mlx serve` command yet)"
    return None


def specs_for(
    model: Model,
    folder: Path,
    mlx_bin: str,
    peers: bool,
    mlx_workers: tuple[int, ...] = (1, 2),
    mlx_args: tuple[str, ...] = (),
) -> list[Spec]:
    out: list[Spec] = []
    mlx_skip = mlx_available(mlx_bin)
    for n in mlx_workers:
        key = "mlx" if n == 1 else f"mlx-{n}w"
        label = "mlx serve" + (f" --workers {n}" if n > 1 else "")
        spec = Spec(key, label, "v2", workers=n, cwd=model.project, skip=mlx_skip)
        spec.port = procs.free_port()
        spec.cmd = [mlx_bin, "serve", str(model.dir), "--port", str(spec.port)]
        if n > 1:
            spec.cmd += ["--workers", str(n)]
        spec.cmd += list(mlx_args)
        spec.infer_path = f"/v2/models/{model.name}/infer"
        out.append(spec)
    for key, label, extra, check in (
        ("bare", "bare Starlette + onnxruntime (1 worker)", [], True),
        ("const", "same app answering a constant", ["--constant"], False),
    ):
        spec = Spec(key, label, "v2", check=check)
        spec.port = procs.free_port()
        spec.cmd = [sys.executable, str(HERE / "refapp.py"), str(model.dir)]
        spec.cmd += ["--port", str(spec.port), *extra]
        spec.infer_path = f"/v2/models/{model.name}/infer"
        out.append(spec)
    if peers:
        out.append(_mlflow(model, folder))
        out.append(_mlserver(model, folder, parallel_workers=None))
        out.append(_mlserver(model, folder, parallel_workers=0))
    return out


def _peer_env(venv: venvs.Venv) -> dict[str, str]:
    # LightGBM's OpenMP threads busy-wait between single-row calls; one thread is each
    # peer's best setting for online traffic on 2 cores.
    return {
        "OMP_NUM_THREADS": "1",
        "PATH": f"{venv.path / 'bin'}:{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv.path),
        "PYTHONNOUSERSITE": "1",
    }


def _mlflow(model: Model, folder: Path) -> Spec:
    spec = Spec("mlflow", "MLflow models serve (1 worker)", "mlflow", ready_path="/ping")
    spec.infer_path = "/invocations"
    venv = venvs.ensure("mlflow")
    if not venv.ok:
        spec.skip = f"MLflow venv: {venv.error}"
        return spec
    target = folder / "mlflow-model"
    booster = peer_booster(model)
    proc = subprocess.run(
        [
            str(venv.python),
            str(HERE / "peer_mlflow.py"),
            str(booster),
            str(target),
            json.dumps(model.feature_names),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **_peer_env(venv)},
    )
    if proc.returncode != 0:
        spec.skip = f"saving the MLflow model failed: {proc.stderr.strip()[-300:]}"
        return spec
    spec.port = procs.free_port()
    spec.cmd = [str(venv.bin("mlflow")), "models", "serve", "-m", str(target)]
    spec.cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(spec.port), "-w", "1"]
    spec.env = {**_peer_env(venv), "MLFLOW_TRACKING_URI": f"file://{folder / 'mlruns'}"}
    return spec


def _mlserver(model: Model, folder: Path, parallel_workers: int | None) -> Spec:
    if parallel_workers is None:
        spec = Spec("mlserver", "MLServer LightGBM runtime (default)", "mlserver")
    else:
        spec = Spec(
            f"mlserver-pw{parallel_workers}",
            f"MLServer LightGBM runtime (parallel_workers: {parallel_workers})",
            "mlserver",
        )
    spec.infer_path = f"/v2/models/{model.name}/infer"
    spec.ready_path = f"/v2/models/{model.name}/ready"
    venv = venvs.ensure("mlserver")
    if not venv.ok:
        spec.skip = f"MLServer venv: {venv.error}"
        return spec
    root = folder / spec.key
    model_dir = root / model.name
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.lgb.txt").write_bytes(peer_booster(model).read_bytes())
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": model.name,
                "implementation": "mlserver_lightgbm.LightGBMModel",
                "parameters": {"uri": "./model.lgb.txt", "version": "v1"},
            },
            indent=2,
        )
    )
    spec.port = procs.free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": spec.port,
        "grpc_port": procs.free_port(),
        "metrics_port": procs.free_port(),
    }
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    (root / "settings.json").write_text(json.dumps(settings, indent=2))
    spec.cmd = [str(venv.bin("mlserver")), "start", str(root)]
    spec.cwd = root
    spec.env = _peer_env(venv)
    return spec


def launch(spec: Spec, folder: Path) -> procs.Server:
    """Start one server without waiting (servers start side by side, then are waited for)."""
    return procs.start(
        spec.key,
        spec.cmd,
        folder / "logs" / f"{spec.key}.log",
        spec.port,
        env=spec.env,
        cwd=spec.cwd,
        workers=spec.workers,
    )


def wait(spec: Spec, server: procs.Server) -> str | None:
    """None once the server answers its readiness URL, else why it did not start."""
    reason = procs.wait_ready(server, url(spec, spec.ready_path), READY_TIMEOUT)
    return f"did not start: {reason}" if reason else None


def url(spec: Spec, path: str | None = None) -> str:
    return f"http://127.0.0.1:{spec.port}{spec.infer_path if path is None else path}"

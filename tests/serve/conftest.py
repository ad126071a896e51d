"""Fixtures for `mlx serve` tests: models trained with the real `mlx train`, real
server processes on free loopback ports, real clients."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import git
from tests.helpers import config, make_project, synthetic

MLX = str(Path(sys.executable).with_name("mlx"))


def _trained(root: Path, task: str, n: int, **extra) -> Path:
    from mlx import api

    frame = synthetic(task, n=n, seed=5)
    if extra.pop("numeric_only", False):
        frame = frame.drop(columns=["color", "size"])
    cfg = config(task, name=f"m-{task}", **extra)
    cfg["model"]["params"] = {"num_iterations": 20, "num_leaves": 7, "min_data_in_leaf": 5}
    cfg["eval"] = {"perturbation": {"enabled": False}}
    make_project(root, frame, cfg)
    api.train(root / "mlops.yaml", commit=True)
    git(root, "status", "--porcelain")
    return root


SERVE_SETTINGS = {
    "serve": {
        "max_body_bytes": 200_000,
        "prediction_log": {"flush_seconds": 0.2, "max_file_seconds": 1.0},
    }
}


@pytest.fixture(scope="session")
def binary_project(tmp_path_factory) -> Path:
    """Binary model with numeric and categorical features (x1, x2, color, size), id row_id."""
    return _trained(tmp_path_factory.mktemp("serve") / "binary", "binary", 600, **SERVE_SETTINGS)


@pytest.fixture(scope="session")
def numeric_project(tmp_path_factory) -> Path:
    """All-numeric regression model (x1, x2): takes a single [N, 2] V2 tensor too."""
    return _trained(
        tmp_path_factory.mktemp("serve") / "numeric", "regression", 400, numeric_only=True
    )


@pytest.fixture(scope="session")
def multiclass_project(tmp_path_factory) -> Path:
    """Multiclass model with string classes (high, low, mid)."""
    return _trained(tmp_path_factory.mktemp("serve") / "multi", "multiclass", 600)


@dataclass
class Server:
    proc: subprocess.Popen
    doc: dict
    stderr_path: Path
    cwd: Path
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.doc["url"]

    @property
    def port(self) -> int:
        return self.doc["port"]

    @property
    def model(self) -> str:
        return self.doc["model"]["name"]

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_server(cwd: Path, *args: str, env: dict | None = None, timeout: float = 120) -> Server:
    """`mlx serve ARGS --port 0 --json` in ``cwd``; returns once it printed its ready line."""
    err = cwd / f".serve-stderr-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [MLX, "serve", *args, "--port", "0", "--json"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=open(err, "wb"),  # noqa: SIM115 - the server writes here for its lifetime
        env={**os.environ, **(env or {})},
        text=True,
    )
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()  # blocks until ready (or exit)
    if not line or time.monotonic() > deadline:
        proc.kill()
        raise AssertionError(f"server did not start: {err.read_text()}")
    doc = json.loads(line)
    assert doc["ok"], doc
    server = Server(proc, doc, err, cwd)
    with server.client() as c:
        assert c.get("/v2/health/ready").status_code == 200
    return server


@pytest.fixture
def serve():
    """Start servers with ``serve(cwd, *args)``; all are stopped at the end."""
    started: list[Server] = []

    def _start(cwd: Path, *args: str, env: dict | None = None) -> Server:
        s = start_server(cwd, *args, env=env)
        started.append(s)
        return s

    yield _start
    for s in started:
        _stop(s)


def _stop(server: Server) -> None:
    """SIGTERM (the supervisor stops its workers), SIGKILL only if that hangs."""
    if server.proc.poll() is None:
        try:
            server.stop(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def binary_server(binary_project):
    """One shared server for the binary model (tests must leave it serving)."""
    s = start_server(binary_project)
    yield s
    _stop(s)


def copy_project(src: Path, dest: Path) -> Path:
    """A copy without the prediction logs other servers wrote into ``src``."""
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("logs", ".serve-*"))
    return dest

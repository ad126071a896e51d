"""Shared fixtures: an isolated HOME and git identity, a CLI runner, example projects.

Every test runs with its own HOME, git config (no system config) and XDG folders, so
commits, tags and DVC remotes never touch the machine's. Projects are real git + DVC
repositories in temp folders; nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mlx-test-home-"))


def _isolate(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n"
    )
    os.environ.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(home / ".cache" / "dvc-site"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    for var in (
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "MLX_SERVE_TOKEN",
        "MLX_TRACEBACK",
    ):
        os.environ.pop(var, None)


_isolate(_SESSION_HOME)


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        import json

        return json.loads(self.stdout)


def run_mlx(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> Result:
    """Run the real `mlx` console script in a subprocess."""
    exe = Path(sys.executable).with_name("mlx")
    proc = subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(monkeypatch):
    """Run mlx in-process (fast) with Typer's CliRunner: ``cli(args, cwd=path)``."""
    from typer.testing import CliRunner

    from mlx.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, cwd: Path | None = None, env: dict | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        res = runner.invoke(app, list(args), env=env, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    return invoke


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def _example_template(tmp_path_factory) -> Path:
    from mlx import api

    root = tmp_path_factory.mktemp("template") / "churn"
    api.init(root, example=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Set up mlx")
    return root


@pytest.fixture
def example_project(_example_template, tmp_path) -> Path:
    """A committed copy of `mlx init --example` (git + DVC, data checked out)."""
    dest = tmp_path / "churn"
    shutil.copytree(_example_template, dest, symlinks=True)
    return dest

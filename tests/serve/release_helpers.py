"""Projects with several registered versions, for the release tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import git, run_mlx
from tests.serve.conftest import copy_project


def promote(project: Path, stage: str, *extra: str) -> str:
    res = run_mlx("promote", *extra, "--stage", stage, "--force", "--reason", "t", "--json", cwd=project)  # fmt: skip
    assert res.exit_code == 0, res.output
    return res.json()["version"]


def retrain(project: Path, iterations: int) -> None:
    from mlx import api

    path = project / "mlops.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["model"]["params"]["num_iterations"] = iterations
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "add", "mlops.yaml")
    git(project, "commit", "-qm", f"{iterations} iterations")
    api.train(path, commit=True)


def two_version_project(src: Path, dest: Path) -> tuple[Path, str, str]:
    """A copy of ``src`` with prod = v1 (its model) and staging = v2 (retrained)."""
    project = copy_project(src, dest)
    v1 = promote(project, "prod")
    retrain(project, 12)
    v2 = promote(project, "staging")
    return project, v1, v2

"""`.pre-commit-hooks.yaml` with the real pre-commit framework, in a temp repo.

The hooks repository is a snapshot of this checkout (tracked and new files, as they are
on disk) committed in a temp folder, so the test sees uncommitted work too. pre-commit
installs mlx from it into its own virtualenv once (a few minutes: mlx's dependencies
are large), then a real `git commit` runs both hooks through `pre-commit install`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, git
from tests.helpers import config, make_project, synthetic

PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))


def _snapshot_of_this_checkout(dest: Path) -> str:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("tests/", "bench/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return git(dest, "rev-parse", "HEAD")


def test_hooks_manifest_declares_both_hooks():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["mlx-validate-config"]["entry"] == "mlx validate --config-only"
    assert hooks["mlx-validate"]["entry"] == "mlx validate"
    assert all(h["pass_filenames"] is False for h in hooks.values())


@pytest.mark.slow
def test_pre_commit_framework_blocks_a_broken_config(tmp_path):
    hooks_repo = tmp_path / "mlx-hooks"
    hooks_repo.mkdir()
    rev = _snapshot_of_this_checkout(hooks_repo)
    project = make_project(tmp_path / "proj", synthetic("binary", n=300), config("binary"))
    (project / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump(
            {
                "repos": [
                    {
                        "repo": str(hooks_repo),
                        "rev": rev,
                        "hooks": [{"id": "mlx-validate-config"}, {"id": "mlx-validate"}],
                    }
                ]
            }
        )
    )
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    subprocess.run([PRE_COMMIT, "install"], cwd=project, check=True, capture_output=True)
    git(project, "add", ".pre-commit-config.yaml")

    def commit(message: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "commit", "-q", "-m", message],
            cwd=project,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=1200,
        )

    proc = commit("add pre-commit")  # installs the hook environment the first time
    assert proc.returncode == 0, proc.stdout + proc.stderr

    cfg = project / "mlops.yaml"
    good = cfg.read_text()
    cfg.write_text(good.replace("task: binary", "task: binray"))
    git(project, "add", "mlops.yaml")
    proc = commit("typo")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "mlx validate --config-only" in out and "Failed" in out
    assert "binray" in out

    # a valid config whose data rules the data breaks: the data hook blocks it
    cfg.write_text(
        good.replace("target: y", "target: y\n  columns:\n    x2: {type: float, max: 5}")
    )
    git(project, "add", "mlops.yaml")
    proc = commit("stricter rules")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "mlx validate --config-only" in out and "Passed" in out
    assert "x2" in out

    cfg.write_text(good.replace("seed: 7", "seed: 8"))
    git(project, "add", "mlops.yaml")
    proc = commit("new seed")
    assert proc.returncode == 0, proc.stdout + proc.stderr

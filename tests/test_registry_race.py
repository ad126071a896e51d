"""Two `mlx promote` processes racing on one repository never win the same version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tests.registry_helpers import commit_model, tags

pytestmark = pytest.mark.slow


def _race(project: Path, *argvs: list[str]) -> list[tuple[int, dict]]:
    """Start every `mlx` command at once (real processes) and collect exit codes + JSON."""
    exe = str(Path(sys.executable).with_name("mlx"))
    procs = [
        subprocess.Popen(
            [exe, *argv, "--json"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for argv in argvs
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, json.loads(stdout) if stdout.strip() else {"stderr": stderr}))
    return out


def test_racing_promotes_get_distinct_versions_and_counters(example_project):
    p = example_project
    for round_ in range(2):
        a = commit_model(p)
        b = commit_model(p)
        results = _race(p, ["promote", a, "--stage", "dev"], ["promote", b, "--stage", "dev"])
        assert [code for code, _ in results] == [0, 0], results
        versions = sorted(doc["version"] for _, doc in results)
        assert versions == ([f"v0.0.{1 + 2 * round_}", f"v0.0.{2 + 2 * round_}"]), versions
        stage_tags = [doc["tags"][-1] for _, doc in results]
        assert len(set(stage_tags)) == 2, stage_tags
    # each commit carries exactly one version, each version exactly one commit
    registrations = [t for t in tags(p) if "@v" in t]
    commits = {git(p, "rev-parse", f"{t}^{{commit}}") for t in registrations}
    assert len(registrations) == len(commits) == 4


def test_racing_promotes_of_one_explicit_version_one_wins(example_project):
    p = example_project
    a = commit_model(p)
    b = commit_model(p)
    results = _race(
        p,
        ["promote", a, "--stage", "prod", "--version", "v1.0.0"],
        ["promote", b, "--stage", "prod", "--version", "v1.0.0"],
    )
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(doc for code, doc in results if code == 1)
    assert loser["error"]["type"] == "PromotionRefused"
    assert "already exists" in loser["error"]["message"]
    winner = next(doc for code, doc in results if code == 0)
    assert git(p, "rev-parse", "churn@v1.0.0^{commit}") == winner["commit"]
    assert [t for t in tags(p) if t.startswith("churn#")] == ["churn#prod#1"]

"""`mlx tune --runner NAME`: the trials as tasks on real Dask workers give the same study
as local threads (same jobs, one LightGBM thread per trial), pruning included."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_mlx
from tests.helpers import config, make_project, synthetic
from tests.runners.test_dask import add_runner
from tests.test_json_schemas import assert_matches

pytestmark = [pytest.mark.dask]

SPACE = {
    "num_leaves": {"low": 4, "high": 63, "kind": "int"},
    "learning_rate": {"low": 0.01, "high": 0.3, "kind": "float", "log": True},
}


def _key(doc: dict) -> list:
    return [(t["number"], t["params"], t["value"], t["state"], t["reason"]) for t in doc["trials"]]


def test_trials_on_the_cluster_match_local_threads(tmp_path, dask_cluster):
    cfg = config("binary")
    cfg["model"]["params"].update({"num_iterations": 60})
    # pruning on from the third trial: later rounds prune against earlier ones, so the
    # remote pruner must see the same frozen view and the same per-round values
    cfg["tune"] = {"trials": 8, "metric": "auc", "space": SPACE, "startup_trials": 2,
                   "warmup_rounds": 5}  # fmt: skip
    project = make_project(tmp_path / "p", synthetic("binary", n=1500), cfg)
    add_runner(project, "cluster", dask_cluster.runner())
    cores = len(os.sched_getaffinity(0))  # --jobs = cores: one LightGBM thread per trial here
    here = assert_matches(run_mlx("tune", "--json", "--jobs", str(cores), cwd=project), "tune")
    there = assert_matches(
        run_mlx("tune", "--json", "--jobs", str(cores), "--runner", "cluster", cwd=project), "tune"
    )
    assert here["runner"] is None
    assert there["runner"]["kind"] == "dask" and there["runner"]["workers"] == 2
    assert _key(there) == _key(here) and there["best"] == here["best"]
    states = [t["state"] for t in there["trials"]]
    assert "complete" in states and "pruned" in states, states  # the pruner decided there
    table = json.loads((project / "models/m/tune/trials.json").read_text())
    assert table["study"]["runner"]["scheduler"] == dask_cluster.scheduler
    assert table["study"]["threads_per_trial"] == 1


def test_an_ssh_runner_does_not_tune(tmp_path):
    cfg = config("binary")
    cfg["tune"] = {"trials": 2, "space": SPACE}
    project = make_project(tmp_path / "p", synthetic("binary", n=300), cfg)
    add_runner(project, "box", {"kind": "ssh", "host": "127.0.0.1"})
    res = run_mlx("tune", "--json", "--runner", "box", cwd=project)
    assert res.exit_code == 2, res.output
    message = res.json()["error"]["message"]
    assert "does not run tune" in message and "dask runner" in message
    assert not (project / "models/m/tune/trials.json").exists()

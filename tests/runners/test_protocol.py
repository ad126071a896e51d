"""The runner protocol: one placement table, one refusal, typed job files both ends read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.runners.test_dask import add_runner


def test_every_runner_answers_for_every_stage_from_the_one_table(example_project):
    from mlx.config import load_project
    from mlx.runners import RUNS, STAGES, UnsupportedStage, get_runner

    add_runner(example_project, "box", {"kind": "ssh", "host": "127.0.0.1"})
    add_runner(example_project, "cluster", {"kind": "dask", "scheduler": "tcp://127.0.0.1:1"})
    project = load_project(example_project / "mlops.yaml")
    seen = {}
    for name in ("local", "box", "cluster"):
        runner = get_runner(project, name)
        for stage in STAGES:
            try:
                seen[(runner.kind, stage)] = runner.placement(stage)
            except UnsupportedStage as exc:
                seen[(runner.kind, stage)] = None
                assert exc.exit_code == 2
                assert f"does not run {stage}" in exc.message and "dask runner" in exc.message
    assert seen == {(k, s): RUNS[k].get(s) for k in RUNS for s in STAGES}
    assert seen[("ssh", "score")] is None and seen[("dask", "score")] == "there"
    # a stage placed here has no remote method to call: asking for one is refused
    with pytest.raises(UnsupportedStage, match="runs evaluate here"):
        get_runner(project, "cluster").evaluate(None)  # type: ignore[arg-type]


def test_eval_on_a_runner_that_runs_it_here_says_so(cli, example_project):
    add_runner(example_project, "cluster", {"kind": "dask", "scheduler": "tcp://127.0.0.1:1"})
    assert cli("train", cwd=example_project).exit_code == 0
    res = cli("eval", "--runner", "cluster", "--json", cwd=example_project)
    doc = res.json()
    assert doc["runner"] == {"name": "cluster", "kind": "dask", "where": "here"}
    assert doc["notes"] == [
        "runner 'cluster' (dask) does not run evaluate itself; evaluate ran here"
    ]


def test_a_job_file_from_a_different_mlx_is_refused_naming_the_field(tmp_path):
    from mlx.train.stage import TrainJobSpec

    job = TrainJobSpec.model_validate(
        {
            "config": {
                "model": {"name": "m", "task": "binary"},
                "data": {"train": "d.csv", "target": "y"},
            },
            "data": "d.csv",
            "out_dir": str(tmp_path / "out"),
            "error_file": str(tmp_path / "error.json"),
            "manifest": str(tmp_path / "manifest.json"),
        }
    )
    doc = json.loads(job.to_json())
    assert TrainJobSpec.from_json(job.to_json()) == job  # both ends read what one wrote
    doc["shards"] = 4  # a field this mlx does not know
    path = tmp_path / "job.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run(
        [sys.executable, "-m", "mlx.train.stage", str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    error = json.loads((tmp_path / "error.json").read_text())
    assert "shards" in error["message"] and "version" in error["hint"]
    assert not (tmp_path / "manifest.json").exists()

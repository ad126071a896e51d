"""`mlx eval`: metrics, gates (pass, fail, no baseline, change vs baseline), checks,
plots, report, and results DVC reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlx.config.sections import GateSpec
from mlx.evaluate.gates import check_gates
from tests.conftest import git
from tests.helpers import config, make_project, synthetic


@pytest.fixture
def trained(cli, example_project):
    assert cli("train", "--commit", cwd=example_project).exit_code == 0
    return example_project


def _set_config(root: Path, update) -> None:
    path = root / "mlops.yaml"
    doc = yaml.safe_load(path.read_text())
    update(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_eval_passes_and_writes_results_dvc_reads(cli, trained):
    res = cli("eval", "--json", cwd=trained)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["passed"] and doc["gates"]["passed"]
    assert doc["gates"]["skipped"] == ["auc: max_degradation (no baseline model)"]
    assert {g["rule"] for g in doc["gates"]["results"]} == {"min", "max"}
    assert set(doc["metrics"]) == {
        "auc",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "brier",
    }
    assert (
        set(doc["slices"]) == {"plan", "contract"} and doc["slices"]["plan"]["basic"]["rows"] > 30
    )
    assert doc["checks"]["trivial_baseline"]["passed"] and doc["checks"]["perturbation"]["passed"]
    eval_dir = trained / "models/churn/eval"
    saved = json.loads((eval_dir / "metrics.json").read_text())
    pointer = yaml.safe_load((trained / "models/churn/model.onnx.dvc").read_text())
    assert saved["model"]["md5"] == pointer["outs"][0]["md5"]
    assert saved["commit"] == git(trained, "rev-parse", "HEAD")
    for plot in ("roc", "pr", "calibration", "confusion", "importance"):
        assert (eval_dir / "plots" / f"{plot}.png").stat().st_size > 1000
    report = (eval_dir / "report.md").read_text()
    assert (
        "✅ passed" in report and "| ✅ | auc | min |" in report and "No baseline model" in report
    )
    dvc = str(Path(sys.executable).with_name("dvc"))
    shown = subprocess.run(
        [dvc, "metrics", "show", "--json"], cwd=trained, capture_output=True, text=True, check=True
    )
    assert '"auc"' in shown.stdout
    res = cli("eval", "--commit", cwd=trained)
    assert res.exit_code == 0
    assert git(trained, "log", "-1", "--format=%s").startswith("Eval churn: passed (auc=")
    assert git(trained, "status", "--porcelain") == ""


def test_failing_gate_exits_1_with_table(cli, trained):
    _set_config(trained, lambda d: d["eval"]["gates"]["auc"].update(min=0.99))
    res = cli("eval", cwd=trained)
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "auc" in res.stdout and "< 0.99" in res.stdout
    saved = json.loads((trained / "models/churn/eval/metrics.json").read_text())
    assert saved["passed"] is False and saved["gates"]["passed"] is False


def test_change_gates_against_a_baseline(trained, tmp_path):
    from mlx.config import load_project
    from mlx.registry.materialize import Baseline
    from mlx.workflows.evaluate import evaluate

    baseline_dir = tmp_path / "baseline"
    shutil.copytree(trained / "models/churn", baseline_dir)
    project = load_project(trained / "mlops.yaml")
    same = evaluate(
        project, baseline=Baseline(ref="churn#prod", version="v1.0.0", model_dir=str(baseline_dir))
    )
    (gate,) = [g for g in same.doc["gates"]["results"] if g["rule"] == "max_degradation"]
    assert gate["passed"] and gate["baseline"] == gate["value"]
    # a weaker candidate (few trees) against the strong baseline fails the change gate
    cfg = (trained / "params.yaml").read_text().replace("num_iterations: 200", "num_iterations: 3")
    (trained / "params.yaml").write_text(cfg)
    from mlx import api

    api.train(trained / "mlops.yaml")
    worse = evaluate(
        load_project(trained / "mlops.yaml"),
        baseline=Baseline(ref="churn#prod", model_dir=str(baseline_dir)),
    )
    (gate,) = [g for g in worse.doc["gates"]["results"] if g["rule"] == "max_degradation"]
    assert not gate["passed"] and not worse.passed
    assert "| churn#prod" not in (trained / "models/churn/eval/report.md").read_text()
    assert "Baseline: `churn#prod`" in (trained / "models/churn/eval/report.md").read_text()


def test_gated_metric_that_cannot_be_computed_fails():
    results, skipped = check_gates(
        {"auc": GateSpec(min=0.5, max_degradation=0.1)}, {"log_loss": 0.3}, None
    )
    assert [r.passed for r in results] == [False]
    assert "could not be computed" in results[0].reason
    assert skipped == ["auc: max_degradation (no baseline model)"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks(cli, tmp_path, task):
    gates = {"macro_f1": {"min": 0.3}} if task == "multiclass" else {"rmse": {"max": 100.0}}
    root = make_project(tmp_path / task, synthetic(task), config(task, eval={"gates": gates}))
    assert cli("train", cwd=root).exit_code == 0
    res = cli("eval", "--json", cwd=root)
    assert res.exit_code == 0, res.output
    doc = res.json()
    expected = (
        {"accuracy", "macro_f1", "log_loss"} if task == "multiclass" else {"rmse", "mae", "r2"}
    )
    assert set(doc["metrics"]) == expected
    plots = set(doc["plots"])
    assert plots == (
        {"confusion", "importance"}
        if task == "multiclass"
        else {"predicted_vs_actual", "importance"}
    )


def test_model_that_does_not_beat_the_prior_fails(cli, tmp_path):
    frame = synthetic("binary", n=600)
    frame["y"] = np.random.default_rng(1).integers(0, 2, len(frame))  # no signal at all
    cfg = config("binary")
    cfg["model"]["params"] = {"num_iterations": 200, "num_leaves": 63, "min_data_in_leaf": 2}
    root = make_project(tmp_path / "noise", frame, cfg)
    assert cli("train", cwd=root).exit_code == 0
    res = cli("eval", "--json", cwd=root)
    assert res.exit_code == 1
    assert res.json()["checks"]["trivial_baseline"]["passed"] is False


def test_perturbation_bound(cli, trained):
    _set_config(
        trained, lambda d: d["eval"].update(perturbation={"noise": 0.05, "max_mean_change": 1e-6})
    )
    res = cli("eval", "--json", cwd=trained)
    assert res.exit_code == 1
    assert res.json()["checks"]["perturbation"]["passed"] is False


def test_data_changed_since_training_is_an_environment_error(cli, trained):
    data = trained / "data/train.csv"
    data.write_text(data.read_text().replace("C000001", "X000001"))
    res = cli("eval", cwd=trained)
    assert res.exit_code == 3
    assert "not the data this model was trained on" in res.stderr

"""`mlx monitor` with a model made by the real `mlx train`: ONNX scoring, labels, retrain."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from tests.conftest import git


@pytest.fixture(scope="module")
def _trained_template(_example_template, tmp_path_factory):
    from mlx import api

    root = tmp_path_factory.mktemp("trained") / "churn"
    shutil.copytree(_example_template, root, symlinks=True)
    api.train(root / "mlops.yaml", commit=True)
    api.evaluate(root / "mlops.yaml", commit=True)
    return root


@pytest.fixture
def trained(_trained_template, tmp_path):
    dest = tmp_path / "churn"
    shutil.copytree(_trained_template, dest, symlinks=True)
    return dest


def test_real_model_scores_files_and_compares_live_metrics(cli, trained):
    res = cli("monitor", "--labels", "data/live_labels.csv", "--json", cwd=trained)
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["reference"]["source"] == "metadata" and doc["reference"]["rows"] == 4800
    assert doc["prediction"]["status"] == "drift"  # the live world churns more
    assert doc["verdict"]["prediction_drift"]
    metrics = {m["metric"]: m for m in doc["performance"]["metrics"]}
    assert doc["performance"]["rows"] == 2000
    assert 0.7 < metrics["auc"]["live"] < 0.9 and metrics["auc"]["train"] > 0.7
    # importance weights come from training: the drifted share is gain-weighted
    assert 0 < doc["verdict"]["drift_share"] < 1
    weights = {f["name"]: f["importance"] for f in doc["features"]}
    assert abs(sum(weights.values()) - 1) < 1e-3 and len(set(weights.values())) > 3


def test_real_model_no_scoring_when_asked(cli, trained):
    res = cli("monitor", "--no-score", "--json", cwd=trained)
    assert res.json()["prediction"] is None


def _add_training_rows(root):
    """New labelled rows in the training data (live rows without the new category)."""
    train = pd.read_csv(root / "data" / "train.csv", dtype=str, keep_default_na=False)
    live = pd.read_csv(root / "data" / "live.csv", dtype=str, keep_default_na=False)
    labels = pd.read_csv(root / "data" / "live_labels.csv", dtype=str)
    rows = live.merge(labels, on="customer_id")
    rows = rows[rows["payment_method"] != "crypto-wallet"]
    pd.concat([train, rows[train.columns]]).to_csv(root / "data" / "train.csv", index=False)
    from mlx.adapters import dvc

    dvc.add(root, [root / "data" / "train.csv"])
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "more training data")


@pytest.mark.slow
def test_retrain_on_drift_commits_on_a_new_branch_only(cli, trained, tmp_path):
    _add_training_rows(trained)
    head, branches = git(trained, "rev-parse", "HEAD"), git(trained, "branch", "--list")
    out = tmp_path / "gh_output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out)}
    res = cli("monitor", "--on-drift", "retrain", "--json", env=env, cwd=trained)
    assert res.exit_code == 1, res.output  # the data drifted, whatever the retrain did
    retrain = res.json()["retrain"]
    assert retrain["passed"] and retrain["branch"].startswith("mlx/retrain-"), json.dumps(
        retrain, indent=1
    )[:3000]
    assert retrain["onnx_md5"] != retrain["previous_md5"]
    # the user's checkout is untouched: same HEAD, same branch, clean tree, no extra work tree
    assert git(trained, "rev-parse", "HEAD") == head
    assert git(trained, "status", "--porcelain") == ""
    assert git(trained, "branch", "--show-current") == "main"
    assert len(git(trained, "worktree", "list").splitlines()) == 1
    assert len(git(trained, "branch", "--list").splitlines()) == len(branches.splitlines()) + 1
    # the branch holds one commit on top of HEAD with the new model and its eval
    branch = retrain["branch"]
    assert git(trained, "rev-parse", f"{branch}^") == head
    files = git(trained, "show", "--name-only", "--format=", branch).splitlines()
    assert "models/churn/model.onnx.dvc" in files and "models/churn/eval/metrics.json" in files
    assert git(trained, "log", "-1", "--format=%s", branch).startswith("Retrain churn on drift")
    # the new model's bytes are in the shared DVC cache: the branch checks out
    git(trained, "switch", "-q", branch)
    from mlx.adapters import dvc

    with dvc.open_repo(trained) as repo:
        repo.checkout()
    assert (trained / "models" / "churn" / "model.onnx").is_file()
    git(trained, "switch", "-q", "main")
    lines = out.read_text().splitlines()
    assert f"retrain_branch={branch}" in lines and "retrain_passed=true" in lines
    # a second run makes a second branch, never moves the first
    first = git(trained, "rev-parse", branch)
    res = cli("monitor", "--on-drift", "retrain", "--json", cwd=trained)
    second = res.json()["retrain"]
    assert second["branch"] in (None, f"{branch}-2")
    assert git(trained, "rev-parse", branch) == first


@pytest.mark.slow
def test_retrain_on_unchanged_data_commits_nothing(cli, trained):
    branches = git(trained, "branch", "--list")
    res = cli("monitor", "--on-drift", "retrain", "--json", cwd=trained)
    retrain = res.json()["retrain"]
    assert retrain["branch"] is None and "identical" in retrain["message"], retrain
    assert git(trained, "branch", "--list") == branches
    assert git(trained, "status", "--porcelain") == ""


def test_retrain_failure_keeps_the_drift_report(cli, trained):
    # the live rows with the new category break the data rules: retraining stops, cleanly
    train = pd.read_csv(trained / "data" / "train.csv", dtype=str, keep_default_na=False)
    train.loc[:10, "payment_method"] = "crypto-wallet"
    train.to_csv(trained / "data" / "train.csv", index=False)
    from mlx.adapters import dvc

    dvc.add(trained, [trained / "data" / "train.csv"])
    git(trained, "add", "-A")
    git(trained, "commit", "-q", "-m", "bad data")
    res = cli("monitor", "--on-drift", "retrain", "--json", cwd=trained)
    assert res.exit_code == 1
    doc = res.json()
    assert doc["drift"] and doc["retrain"]["error"]["type"] == "DataValidationFailed"
    assert doc["retrain"]["branch"] is None
    assert len(git(trained, "worktree", "list").splitlines()) == 1


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_every_task_scores_and_measures(cli, tmp_path, task):
    from mlx import api
    from tests.helpers import config, make_project, synthetic

    root = make_project(tmp_path / task, synthetic(task, n=1500), config(task))
    api.train(root / "mlops.yaml", commit=True)
    res = cli(
        "monitor",
        "--current",
        "data/train.csv",
        "--labels",
        "data/train.csv",
        "--json",
        cwd=root,
    )
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["prediction"]["status"] == "ok" and doc["prediction"]["stats"]["psi"] < 0.05
    metrics = {m["metric"]: m for m in doc["performance"]["metrics"]}
    expected = {"multiclass": {"accuracy", "macro_f1"}, "regression": {"rmse", "mae", "r2"}}
    assert set(metrics) == expected[task]
    # the whole training file scores about as well as the test split did at train time
    for m in metrics.values():
        assert m["train"] is not None and abs(m["change"]) < 0.5, m


def test_registry_reference(cli, trained):
    from mlx import api
    from mlx.registry.promote import StageChange

    api.promote(StageChange("prod"), config=trained / "mlops.yaml")
    res = cli("monitor", "churn#prod", "--json", cwd=trained)
    assert res.exit_code == 1, res.output
    model = res.json()["model"]
    assert model["registry"]["version"] == "v0.0.1" and model["registry"]["stage"] == "prod"
    assert res.json()["prediction"]["status"] == "drift"  # bytes materialized and scored
    res = cli("monitor", "churn#staging", "--json", cwd=trained)
    assert res.exit_code == 2 and res.json()["error"]["type"] == "RefError"


@pytest.mark.slow
def test_retrain_auto_promotes_only_when_configured(cli, trained):
    _add_training_rows(trained)
    cfg = trained / "mlops.yaml"
    cfg.write_text(cfg.read_text() + "  auto_promote: staging\n")  # under monitor:
    git(trained, "commit", "-q", "-am", "auto-promote retrained models to staging")
    res = cli("monitor", "--on-drift", "retrain", "--json", cwd=trained)
    retrain = res.json()["retrain"]
    assert retrain["promoted"]["stage"] == "staging", retrain
    tags = git(trained, "tag", "--list").splitlines()
    assert "churn#staging#1" in tags or any(t.startswith("churn#staging#") for t in tags)
    assert not any(t.startswith("churn#prod#") for t in tags)

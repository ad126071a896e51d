"""`mlx runs` and `mlx diff` on real trained, evaluated and promoted models (real git, DVC)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import git, run_mlx
from tests.test_json_schemas import assert_matches


def _train_eval(project) -> None:
    for cmd in (["train", "--commit"], ["eval", "--commit"]):
        res = run_mlx(*cmd, cwd=project)
        assert res.exit_code in (0, 1), res.output  # eval exits 1 on a failed gate, still commits


@pytest.fixture
def two_branches(example_project):
    """main: a promoted #prod model; branch `wide`: num_leaves 63, trained and evaluated."""
    p = example_project
    _train_eval(p)
    git(p, "init", "-q", "--bare", str(p.parent / "origin.git"))
    git(p, "remote", "add", "origin", str(p.parent / "origin.git"))
    res = run_mlx("promote", "--stage", "prod", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    git(p, "checkout", "-q", "-b", "wide")
    cfg = (p / "params.yaml").read_text()
    (p / "params.yaml").write_text(cfg.replace("num_leaves: 15", "num_leaves: 63"))
    assert "num_leaves: 63" in (p / "params.yaml").read_text()
    git(p, "commit", "-q", "-am", "wider trees")
    _train_eval(p)
    git(p, "checkout", "-q", "main")
    return p


def test_runs_lists_both_branches_with_registry_and_changed_params(two_branches):
    p = two_branches
    only_head = run_mlx("runs", "--json", cwd=p).json()
    assert [r["branch"] for r in only_head["runs"]] == ["main"]

    doc = assert_matches(run_mlx("runs", "--all-branches", "--json", cwd=p), "runs")
    runs = {r["branch"]: r for r in doc["runs"]}
    assert set(runs) == {"main", "wide"} and doc["total"] == 2
    main, wide = runs["main"], runs["wide"]
    assert main["versions"] == ["v0.0.1"] and main["stages"] == ["prod"]
    assert wide["versions"] == [] and wide["changed_params"] == {"num_leaves": 63}
    assert main["changed_params"] == {}
    assert main["metrics_from"] == wide["metrics_from"] == "eval"
    assert main["eval_passed"] is True and isinstance(wide["eval_passed"], bool)
    assert main["data_md5"] == wide["data_md5"] and len(main["data_md5"]) == 32
    assert main["commit"] == git(p, "log", "--format=%H", "-n1", "--", "models/churn/metadata.json")

    # sorted by a metric, best first by its direction; --limit keeps the total
    by_auc = run_mlx("runs", "-A", "--sort", "auc", "--json", cwd=p).json()["runs"]
    aucs = [r["metrics"]["auc"] for r in by_auc]
    assert aucs == sorted(aucs, reverse=True)
    by_loss = run_mlx("runs", "-A", "--sort", "log_loss", "--json", cwd=p).json()["runs"]
    losses = [r["metrics"]["log_loss"] for r in by_loss]
    assert losses == sorted(losses)
    limited = run_mlx("runs", "-A", "--limit", "1", "--json", cwd=p).json()
    assert len(limited["runs"]) == 1 and limited["total"] == 2
    assert [r["branch"] for r in run_mlx("runs", "wid*", "-A", "--json", cwd=p).json()["runs"]] == [
        "wide"
    ]

    human = run_mlx("runs", "-A", cwd=p)
    assert human.exit_code == 0 and "num_leaves=63" in human.stdout and "#prod" in human.stdout


def test_runs_bad_input_is_a_usage_error(two_branches):
    res = run_mlx("runs", "--sort", "acu", cwd=two_branches)
    assert res.exit_code == 2 and "'auc'" in res.output
    res = run_mlx("runs", "nosuch-run", cwd=two_branches)
    assert res.exit_code == 2 and "no run matches 'nosuch-run'" in res.output


def test_runs_reads_a_dvc_experiment_ref(two_branches):
    """A commit under refs/exps/ (where `dvc exp run` keeps experiments) is listed by its name."""
    p = two_branches
    wide = git(p, "rev-parse", "wide")
    base = git(p, "rev-parse", "main")
    git(p, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/bushy-tree", wide)
    git(p, "branch", "-q", "-D", "wide")
    runs = run_mlx("runs", "--json", cwd=p).json()["runs"]
    exp = [r for r in runs if r["source"] == "experiment"]
    assert len(exp) == 1 and exp[0]["run"] == exp[0]["experiment"] == "bushy-tree"
    diff = run_mlx("diff", "churn#prod", "bushy-tree", "--json", cwd=p).json()
    assert [c["key"] for c in diff["params"]] == ["num_leaves"]


def test_diff_between_versions_trained_on_different_data(two_branches):
    p = two_branches
    frame = pd.read_csv(p / "data" / "train.csv")
    frame = frame.sample(frac=0.7, random_state=1)
    frame["monthly_charges"] = frame["monthly_charges"] * 1.5
    frame.to_csv(p / "data" / "train.csv", index=False)
    from mlx.adapters import dvc

    dvc.add(p, [p / "data" / "train.csv"])
    git(p, "commit", "-q", "-am", "new data")
    _train_eval(p)

    doc = assert_matches(run_mlx("diff", "churn#prod", "HEAD", "--json", cwd=p), "diff")
    assert doc["a"]["version"] == "v0.0.1" and doc["a"]["stages"] == ["prod"]
    assert not doc["same_model"] and not doc["data"]["same"]
    assert doc["data"]["rows_change"] == 4200 - 6000
    shift = {s["feature"]: s for s in doc["data"]["shift"]}
    assert shift["monthly_charges"]["level"] == "major"
    assert shift["contract"]["level"] == "none" and shift["monthly_charges"]["wasserstein"] > 0.5
    assert doc["metrics_from"] == "eval"
    auc = next(m for m in doc["metrics"] if m["metric"] == "auc")
    assert auc["delta"] == pytest.approx(auc["b"] - auc["a"])
    assert doc["code"]["ahead"] == 3 and doc["code"]["commits"][-1]["subject"] == "new data"

    md = run_mlx("diff", "churn#prod", "HEAD", "--markdown", cwd=p)
    assert md.exit_code == 0
    assert md.stdout.startswith("## mlx diff: `churn#prod` → `HEAD`")
    assert "| monthly_charges |" in md.stdout and "major" in md.stdout
    assert "### Metrics (test set (`mlx eval`))" in md.stdout

    same = run_mlx("diff", "churn#prod", "churn@v0.0.1", "--json", cwd=p).json()
    assert same["same_model"] and same["params"] == [] and same["data"]["shift"] == []


def test_diff_names_an_unknown_ref(two_branches):
    res = run_mlx("diff", "churn#prod", "no-such-ref", cwd=two_branches)
    assert res.exit_code == 2 and "'no-such-ref'" in res.output
    res = run_mlx("diff", "churn#prod", "no-such-ref", "--json", cwd=two_branches)
    assert res.exit_code == 2 and assert_matches(res, "diff", None)["ok"] is False


def test_diff_compares_configs_with_their_params_file(two_branches):
    doc = run_mlx("diff", "churn#prod", "wide", "--json", cwd=two_branches).json()
    keys = {c["key"]: c for c in doc["config"]}
    assert set(keys) == {"model.params.num_leaves"}, doc["config"]
    assert (keys["model.params.num_leaves"]["a"], keys["model.params.num_leaves"]["b"]) == (15, 63)

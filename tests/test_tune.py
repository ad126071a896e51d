"""`mlx tune` on real projects (real git, real DVC, real LightGBM and Optuna)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import git, run_mlx
from tests.helpers import config, interruptible, make_project, synthetic
from tests.test_json_schemas import assert_matches

SPACE = {
    "num_leaves": {"low": 4, "high": 63, "kind": "int"},
    "learning_rate": {"low": 0.01, "high": 0.3, "kind": "float", "log": True},
    "boosting": {"kind": "categorical", "choices": ["gbdt", "dart"]},
}
TABLE = Path("models/m/tune/trials.json")


def _project(root: Path, tune: dict, params: dict | None = None, n: int = 800) -> Path:
    cfg = config("binary")
    if params:
        cfg["model"]["params"].update(params)
    cfg["tune"] = tune
    return make_project(root, synthetic("binary", n=n), cfg)


@pytest.fixture
def project(tmp_path) -> Path:
    return _project(tmp_path / "p", {"trials": 10, "jobs": 2, "metric": "auc", "space": SPACE})


def _key(doc: dict) -> list:
    return [(t["number"], t["params"], t["value"], t["state"], t["reason"]) for t in doc["trials"]]


def test_seeded_tune_is_reproducible_and_recorded(project):
    first = assert_matches(run_mlx("tune", "--json", cwd=project), "tune")
    table_1 = json.loads((project / TABLE).read_text())
    second = assert_matches(run_mlx("tune", "--json", cwd=project), "tune")
    table_2 = json.loads((project / TABLE).read_text())

    assert len(first["trials"]) == 10 and first["jobs"] == 2
    assert _key(first) == _key(second)  # same seed + data + space -> same trials
    assert first["best"] == second["best"] and first["best"] is not None
    assert first["direction"] == "maximize" and first["metric"] == "auc" and first["seed"] == 7
    complete = [t for t in first["trials"] if t["state"] == "complete"]
    assert first["best"]["value"] == max(t["value"] for t in complete)
    assert {t["number"] for t in first["trials"]} == set(range(10))
    for t in first["trials"]:
        assert 4 <= t["params"]["num_leaves"] <= 63 and isinstance(t["params"]["num_leaves"], int)
        assert 0.01 <= t["params"]["learning_rate"] <= 0.3
        assert t["params"]["boosting"] in ("gbdt", "dart")

    # the trials table: documented format, the same trials, a new study id each run
    assert table_1["kind"] == "mlx-tune-trials" and table_1["format"] == 1
    assert table_1["study"]["seed"] == 7 and table_1["study"]["sampler"] == "TPESampler"
    assert table_1["space"]["num_leaves"] == {"kind": "int", "low": 4, "high": 63, "log": False}
    assert table_1["metric"] == "auc" and table_1["direction"] == "maximize"
    assert table_1["data"]["md5"] and table_1["data"]["valid_rows"] > 0
    assert _key(table_1) == _key(first) and table_1["best"] == first["best"]
    assert table_1["study"]["id"] != table_2["study"]["id"]
    assert not table_1["study"]["interrupted"]
    assert all(t["duration_s"] >= 0 for t in table_1["trials"])


def test_sequential_and_parallel_each_reproducible(project):
    """--jobs fixes how trials are proposed; each setting repeats itself exactly."""
    one = run_mlx("tune", "--json", "-j", "1", "-n", "6", cwd=project).json()
    again = run_mlx("tune", "--json", "-j", "1", "-n", "6", cwd=project).json()
    assert one["jobs"] == 1 and _key(one) == _key(again)
    per_core = run_mlx("tune", "--json", "-j", "0", "-n", "2", cwd=project).json()
    assert per_core["jobs"] == min(2, len(os.sched_getaffinity(0)))  # 0: one trial per core


def test_bad_space_is_exit_2_before_any_trial(tmp_path, cli):
    bad = {
        "trials": 3,
        "space": {"num_leave": {"low": 4, "high": 8, "kind": "int"}},  # typo
    }
    p = _project(tmp_path / "p", bad)
    res = cli("tune", "--json", cwd=p)
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)["error"]
    issue = err["details"]["issues"][0]
    assert issue["key"] == "tune.space.num_leave" and issue["suggestion"] == "num_leaves"
    assert issue["line"] > 0
    assert not (p / TABLE).exists()

    text = (p / "mlops.yaml").read_text()
    cfg = yaml.safe_load(text)
    for space, key, words in (
        ({"boosting": {"kind": "categorical", "choices": ["gbdt", "gdbt"]}}, "boosting", "gdbt"),
        ({"num_leaves": {"kind": "int", "low": 1, "high": 8}}, "num_leaves", "num_leaves=1"),
        ({"objective": {"kind": "categorical", "choices": ["binary"]}}, "objective", "set by mlx"),
        ({"num_leaves": {"kind": "int", "low": 64, "high": 8}}, "num_leaves", "greater than"),
        (
            {"learning_rate": {"kind": "float", "low": 0, "high": 1, "log": True}},
            "learning_rate",
            "low > 0",
        ),
    ):
        cfg["tune"]["space"] = space
        (p / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        res = cli("tune", "--json", cwd=p)
        assert res.exit_code == 2, (space, res.output)
        issues = json.loads(res.stdout)["error"]["details"]["issues"]
        assert issues[0]["key"] == f"tune.space.{key}", issues
        assert words in issues[0]["message"], issues
        assert not (p / TABLE).exists()

    # a metric the task does not have: exit 2 at the key
    cfg["tune"] = {"metric": "rmse", "space": SPACE}
    (p / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = cli("tune", "--json", cwd=p)
    assert res.exit_code == 2 and "tune.metric" in res.stdout
    # no space at all
    del cfg["tune"]
    (p / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = cli("tune", "--json", cwd=p)
    assert res.exit_code == 2 and "tune.space" in res.stdout


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    # each value alone is fine (the pre-flight check passes), but random forests need
    # bagging: a trial that samples rf with bagging_freq 0 fails inside LightGBM
    space = {
        "boosting": {"kind": "categorical", "choices": ["gbdt", "rf"]},
        "bagging_freq": {"kind": "categorical", "choices": [1, 0]},
    }
    p = _project(
        tmp_path / "p",
        {"trials": 12, "jobs": 2, "space": space},
        params={"bagging_fraction": 0.5, "bagging_freq": 1},
    )
    doc = assert_matches(run_mlx("tune", "--json", cwd=p), "tune")
    assert len(doc["trials"]) == 12
    failed = [t for t in doc["trials"] if t["state"] == "failed"]
    assert failed, doc["trials"]
    for t in failed:
        assert t["params"] == {"boosting": "rf", "bagging_freq": 0}
        assert "bagging" in t["reason"] and t["value"] is None
    assert doc["counts"]["failed"] == len(failed) and doc["best"] is not None
    assert any(
        t["state"] == "complete" and t["number"] > failed[0]["number"] for t in doc["trials"]
    )
    table = json.loads((p / TABLE).read_text())
    assert [t["state"] for t in table["trials"]] == [t["state"] for t in doc["trials"]]


def test_apply_writes_the_best_params_keeping_comments(tmp_path):
    p = _project(tmp_path / "p", {"trials": 6, "space": SPACE})
    text = (p / "mlops.yaml").read_text()
    text = "# project config: keep me\n" + text.replace(
        "    num_leaves: 7\n", "    num_leaves: 7  # leaves, tuned\n"
    ).replace("  seed: 7\n", "  # the seed, for reproducibility\n  seed: 7\n")
    (p / "mlops.yaml").write_text(text)
    git(p, "commit", "-qam", "comments")

    doc = assert_matches(run_mlx("tune", "--apply", "--json", cwd=p), "tune")
    best = doc["best"]["params"]
    assert doc["applied"]["file"] == "mlops.yaml" and doc["applied"]["params"] == best
    after = (p / "mlops.yaml").read_text()
    assert "# project config: keep me\n" in after
    assert "# the seed, for reproducibility\n" in after
    assert f"num_leaves: {best['num_leaves']}  # leaves, tuned\n" in after
    loaded = yaml.safe_load(after)["model"]["params"]
    assert loaded == {"num_iterations": 30, **best}
    # only the params' lines changed
    diff = git(p, "diff", "-U0", "--", "mlops.yaml")
    changed = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert all(x[1:].startswith("    ") for x in changed), changed
    assert run_mlx("validate", "--config-only", cwd=p).exit_code == 0
    # applying again changes nothing
    again = run_mlx("tune", "--apply", "--json", cwd=p).json()
    assert again["applied"]["changed"] == [] and (p / "mlops.yaml").read_text() == after


def test_runs_lists_committed_and_worktree_trials(project):
    run_mlx("tune", "-n", "4", "--json", cwd=project)
    git(project, "add", str(TABLE))
    git(project, "commit", "-qm", "sweep")
    commit = git(project, "rev-parse", "HEAD")
    run_mlx("tune", "-n", "3", "--json", "-j", "1", cwd=project)  # a newer study, not committed

    doc = assert_matches(run_mlx("runs", "--json", cwd=project), "runs")
    trials = [r for r in doc["runs"] if r["kind"] == "trial"]
    committed = [r for r in trials if r["commit"] == commit]
    worktree = [r for r in trials if r["source"] == "worktree"]
    assert len(committed) == 4 and len(worktree) == 3 and len(trials) == doc["total"] == 7
    assert {r["run"] for r in committed} == {f"tune#{n}" for n in range(4)}
    for r in committed:
        assert r["branch"] == "main" and r["metrics_from"] == "tune" and r["model_md5"] is None
        assert r["trial"]["metric"] == "auc" and r["trial"]["state"] in ("complete", "pruned")
        assert r["params"]["num_leaves"] == r["trial"]["sampled"]["num_leaves"]
        if r["trial"]["state"] == "complete":
            assert r["metrics"]["auc"] == r["trial"]["value"]
    assert sum(r["trial"]["best"] for r in committed) == 1
    assert len({r["trial"]["study"] for r in trials}) == 2

    only = run_mlx("runs", "tune#2", "--json", cwd=project).json()["runs"]
    assert [r["run"] for r in only] == ["tune#2", "tune#2"]
    human = run_mlx("runs", cwd=project)
    assert human.exit_code == 0 and "tune#3" in human.stdout and "trial" in human.stdout
    assert "not trained models" in human.stdout


def test_ctrl_c_keeps_finished_trials(tmp_path):
    p = _project(
        tmp_path / "p",
        {"trials": 400, "jobs": 2, "prune": False, "space": SPACE},
        params={"num_iterations": 300},
        n=3000,
    )
    exe = str(Path(sys.executable).with_name("mlx"))
    proc = interruptible([exe, "tune", "--json"], cwd=p, stdout=-1, stderr=-1, text=True)
    table = p / TABLE
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if table.exists() and len(json.loads(table.read_text())["trials"]) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the search finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    saved = json.loads(table.read_text())
    assert doc["interrupted"] is True and saved["study"]["interrupted"] is True
    assert 2 <= len(saved["trials"]) < 400
    assert _key(saved) == _key(doc)
    finished = [t for t in saved["trials"] if t["state"] == "complete"]
    assert len(finished) >= 2
    assert all(t["reason"] == "interrupted" for t in saved["trials"] if t["state"] == "failed")


def test_missing_optuna_is_an_environment_error(project, tmp_path):
    shadow = tmp_path / "shadow" / "optuna"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('optuna is not installed here')\n")
    res = run_mlx("tune", "--json", cwd=project, env={"PYTHONPATH": str(shadow.parent)})
    assert res.exit_code == 3, res.output
    err = res.json()["error"]
    assert err["type"] == "MissingExtra" and "mlx-mlops[tune]" in err["hint"]


@pytest.mark.parametrize(
    ("task", "metric", "direction"),
    [("regression", "rmse", "minimize"), ("regression", "r2", "maximize"),
     ("multiclass", "macro_f1", "maximize")],
)  # fmt: skip
def test_metric_direction_per_task(tmp_path, cli, task, metric, direction):
    cfg = config(task)
    cfg["tune"] = {"trials": 8, "metric": metric, "startup_trials": 2, "warmup_rounds": 2,
                   "space": {"num_leaves": {"kind": "int", "low": 3, "high": 31},
                             "learning_rate": {"kind": "float", "low": 0.02, "high": 0.3}}}  # fmt: skip
    p = make_project(tmp_path / "p", synthetic(task, n=600), cfg)
    res = cli("tune", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["direction"] == direction and doc["metric"] == metric
    values = [t["value"] for t in doc["trials"] if t["state"] == "complete"]
    pick = min if direction == "minimize" else max
    assert doc["best"]["value"] == pick(values)
    table = json.loads((p / TABLE).read_text())
    assert (
        table["round_metric"] == {"rmse": "rmse", "r2": "l2", "macro_f1": "multi_logloss"}[metric]
    )


@pytest.mark.parametrize(
    "text",
    [
        "model:\n  name: m\n  params:\n    num_leaves: 7  # c\n  seed: 3\n",  # block
        "model:\n  name: m\n  params: {num_leaves: 7}  # c\n  seed: 3\n",  # flow
        "model:\n  name: m\n  # c\n  seed: 3\n",  # no params yet
        "model:\n  name: m\n  params:\n  seed: 3  # c\n",  # empty params
        "model: {name: m, params: {}}  # c\n",  # empty flow map
    ],
)
def test_yaml_edit_sets_values_and_keeps_the_rest(text):
    from mlx.util.yamledit import set_mapping_values

    values = {"num_leaves": 63, "learning_rate": 1e-05, "boosting": "dart", "flag": "yes"}
    out = set_mapping_values(text, ("model", "params"), values)
    assert yaml.safe_load(out)["model"]["params"] == values
    assert "# c" in out and yaml.safe_load(out)["model"]["name"] == "m"
    untouched = [line for line in text.splitlines() if "params" not in line and "num_" not in line]
    assert all(line in out.splitlines() for line in untouched), out

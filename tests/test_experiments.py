"""mlx stages in dvc.yaml: DVC's own experiment tools on an mlx project (real dvc, real git)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import git, run_mlx

DVC = str(Path(sys.executable).with_name("dvc"))
ONNX = Path("models/churn/model.onnx")


def dvc(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env_path = str(Path(sys.executable).parent)
    import os

    env = {**os.environ, "PATH": env_path + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(
        [DVC, *args], cwd=root, capture_output=True, text=True, timeout=600, env=env
    )
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_init_declares_stages_and_dvc_experiments_run_mlx(example_project, tmp_path):
    p = example_project
    stages = yaml.safe_load((p / "dvc.yaml").read_text())["stages"]
    assert stages["train"]["cmd"] == "mlx train" and stages["eval"]["cmd"] == "mlx eval"
    assert "data/train.csv" in stages["train"]["deps"] and "mlops.yaml" in stages["train"]["deps"]
    assert stages["train"]["params"] == [{"params.yaml": ["model.params", "model.seed"]}]
    assert stages["eval"]["metrics"] == [{"models/churn/eval/scores.json": {"cache": False}}]

    dvc(p, "repro")
    assert yaml.safe_load((p / "dvc.yaml").read_text())["artifacts"]["churn"]  # beside stages
    git(p, "add", "-A")
    git(p, "commit", "-qm", "repro")
    baseline = (p / ONNX).read_bytes()
    again = dvc(p, "repro")
    assert "Stage 'eval' didn't change, skipping" in again.stdout, again.stdout
    assert "Running stage 'train'" not in again.stdout
    assert (p / ONNX).read_bytes() == baseline

    # the bytes `mlx train` gives with the same change, in a copy of the project
    copy = tmp_path / "copy"
    shutil.copytree(p, copy, symlinks=True)
    assert run_mlx("train", "--set", "model.params.num_leaves=7", cwd=copy).exit_code == 0

    params_before = (p / "params.yaml").read_text()
    dvc(p, "exp", "run", "-S", "model.params.num_leaves=7", "-n", "leaves7")
    params_after = (p / "params.yaml").read_text()
    assert "num_leaves: 7" in params_after
    assert params_after.splitlines()[:2] == params_before.splitlines()[:2]  # comments kept
    assert (p / ONNX).read_bytes() == (copy / ONNX).read_bytes() != baseline
    meta = json.loads((p / "models/churn/metadata.json").read_text())
    assert meta["run"]["experiment"] == "leaves7"

    shown = json.loads(dvc(p, "exp", "show", "--json").stdout)
    names = {
        exp.get("name"): exp
        for rev in shown
        for exp in [rev, *[e for x in rev.get("experiments") or [] for e in x.get("revs", [])]]
    }
    leaves = names["leaves7"]["data"]
    scores = leaves["metrics"]["models/churn/eval/scores.json"]["data"]
    assert 0.5 < scores["auc"] <= 1.0
    assert leaves["params"]["params.yaml"]["data"]["model"]["params"]["num_leaves"] == 7

    diff = json.loads(dvc(p, "exp", "diff", "--json").stdout)  # workspace vs HEAD
    assert diff["params"]["params.yaml"]["model.params.num_leaves"]["new"] == 7

    runs = run_mlx("runs", "-A", "--json", cwd=p)
    assert runs.exit_code == 0, runs.output
    assert any(
        r.get("name") == "leaves7" or r.get("experiment") == "leaves7" for r in runs.json()["runs"]
    ), runs.stdout

    # back to the baseline, then bring the experiment back and branch it
    git(p, "checkout", "-q", "--", ".")
    dvc(p, "checkout", "-q")
    dvc(p, "exp", "apply", "leaves7")
    assert "num_leaves: 7" in (p / "params.yaml").read_text()
    dvc(p, "exp", "branch", "leaves7", "wide-leaves")
    assert "wide-leaves" in git(p, "branch", "--list", "wide-leaves")


def test_queued_experiment_runs_in_dvc_queue(example_project):
    p = example_project
    dvc(p, "repro")
    git(p, "add", "-A")
    git(p, "commit", "-qm", "repro")
    dvc(p, "exp", "run", "--queue", "-S", "model.params.learning_rate=0.1", "-n", "lr01")
    dvc(p, "exp", "run", "--run-all")
    shown = dvc(p, "exp", "show", "--csv").stdout
    row = next(line for line in shown.splitlines() if line.startswith("lr01,"))
    assert ",Success," in row, shown


def test_stages_follow_the_config(example_project):
    p = example_project
    cfg = (p / "mlops.yaml").read_text().replace("name: churn", "name: attrition")
    (p / "mlops.yaml").write_text(cfg)
    res = run_mlx("train", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    assert any("dvc.yaml" in n and "follow" in n for n in res.json()["notes"]), res.stdout
    stages = yaml.safe_load((p / "dvc.yaml").read_text())["stages"]
    assert stages["train"]["outs"] == [{"models/attrition/metadata.json": {"cache": False}}]
    assert "models/attrition/model.onnx" in stages["eval"]["deps"]
    assert "dvc.yaml" in res.json()["changed"]
    # a --set run changes this run only: dvc.yaml is not rewritten for it
    before = (p / "dvc.yaml").read_text()
    res = run_mlx("train", "--set", "model.name=other", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    assert (p / "models/other/model.onnx").exists()
    assert (
        yaml.safe_load((p / "dvc.yaml").read_text())["stages"] == yaml.safe_load(before)["stages"]
    )


def test_init_on_an_existing_project_adds_only_the_stages(tmp_path):
    from tests.helpers import config, make_project, synthetic

    p = make_project(tmp_path / "p", synthetic("binary", n=300), config("binary"))
    doc = yaml.safe_load((p / "dvc.yaml").read_text()) if (p / "dvc.yaml").exists() else {}
    doc.pop("stages", None)
    (p / "dvc.yaml").write_text(yaml.safe_dump(doc))
    git(p, "add", "-A")
    git(p, "commit", "-qm", "no stages")
    config_before = (p / "mlops.yaml").read_text()
    res = run_mlx("init", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    assert (p / "mlops.yaml").read_text() == config_before
    stages = yaml.safe_load((p / "dvc.yaml").read_text())["stages"]
    # params stay in mlops.yaml here: the stage reads them from there
    assert stages["train"]["params"] == [{"mlops.yaml": ["model.params", "model.seed"]}]
    changed = git(p, "status", "--porcelain")
    assert changed.split() == ["M", "dvc.yaml"], changed


def test_a_key_in_both_files_names_both(example_project):
    p = example_project
    (p / "mlops.yaml").write_text(
        (p / "mlops.yaml").read_text().replace("  task: binary\n", "  task: binary\n  seed: 1\n")
    )
    res = run_mlx("validate", "--config-only", cwd=p)
    assert res.exit_code == 2
    assert "params.yaml:" in res.output and "model.seed" in res.output
    assert "also set in" in res.output and "mlops.yaml:" in res.output


def test_tune_apply_writes_params_yaml_and_dvc_sees_it(example_project):
    p = example_project
    config_before = (p / "mlops.yaml").read_text()
    res = run_mlx("tune", "--trials", "2", "--apply", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["applied"]["file"] == "params.yaml"
    assert (p / "mlops.yaml").read_text() == config_before
    params = yaml.safe_load((p / "params.yaml").read_text())["model"]["params"]
    assert {k: params[k] for k in doc["best"]["params"]} == doc["best"]["params"]
    assert (p / "params.yaml").read_text().startswith("# The params that change the model")
    status = dvc(p, "status", "train").stdout
    assert "params.yaml" in status and "modified" in status, status
    # the next train records the trial it trains with
    assert run_mlx("train", cwd=p).exit_code == 0
    meta = json.loads((p / "models/churn/metadata.json").read_text())
    assert meta["run"]["tune"]["trial"] == doc["best"]["trial"]
    assert meta["run"]["tune"]["table"] == "models/churn/tune/trials.json"
    lineage = run_mlx("lineage", "--json", cwd=p).json()
    assert lineage["run"]["tune"]["trial"] == doc["best"]["trial"]

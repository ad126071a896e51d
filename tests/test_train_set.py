"""`mlx train --set KEY=VALUE` and `--name`: one run's overrides, validated and recorded."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git, run_mlx
from tests.helpers import config, make_project, synthetic


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "p", synthetic("binary", n=400), config("binary"))


def _meta(root):
    return json.loads((root / "models" / "m" / "metadata.json").read_text())


def test_set_overrides_one_run_and_is_recorded(project):
    before = (project / "mlops.yaml").read_text()
    res = run_mlx(
        "train",
        "--set",
        "model.params.num_leaves=5",
        "--set",
        "model.seed=11",
        "--set",
        "model.params.learning_rate=0.2",
        "--name",
        "leaves-5",
        "--json",
        cwd=project,
    )
    assert res.exit_code == 0, res.output
    meta = _meta(project)
    assert meta["params"]["num_leaves"] == 5 and meta["params"]["learning_rate"] == 0.2
    assert meta["seed"] == 11
    assert meta["run"] == {
        "name": "leaves-5",
        "overrides": {
            "model.params.num_leaves": 5,
            "model.seed": 11,
            "model.params.learning_rate": 0.2,
        },
    }
    assert (project / "mlops.yaml").read_text() == before  # the file is not edited
    lineage = run_mlx("lineage", "--json", cwd=project)
    assert lineage.exit_code == 0, lineage.output
    assert lineage.json()["run"]["overrides"]["model.seed"] == 11
    shown = run_mlx("lineage", cwd=project, env={"COLUMNS": "400"}).stdout
    assert "leaves-5; --set model.params.learning_rate=0.2 model.params.num_leaves=5" in shown
    runs = run_mlx("runs", "--json", cwd=project)
    assert runs.exit_code == 0, runs.output
    [row] = [r for r in runs.json()["runs"] if r.get("name") == "leaves-5"]
    assert row


def test_set_gives_the_bytes_of_the_same_edit_in_the_file(project):
    assert run_mlx("train", "--set", "model.params.num_leaves=5", cwd=project).exit_code == 0
    via_set = (project / "models" / "m" / "model.onnx").read_bytes()
    cfg = (project / "mlops.yaml").read_text().replace("num_leaves: 7", "num_leaves: 5")
    (project / "mlops.yaml").write_text(cfg)
    assert run_mlx("train", cwd=project).exit_code == 0
    assert (project / "models" / "m" / "model.onnx").read_bytes() == via_set
    assert "run" not in _meta(project)  # a plain train records no run section


@pytest.mark.parametrize(
    ("arg", "where", "expect"),
    [
        ("model.seeed=3", "model.seeed", "did you mean 'seed'"),
        ("model.seed=abc", "model.seed", "integer"),
        ("modle.params.num_leaves=3", "modle", "did you mean 'model'"),
        ("model.params.num_leavs=3", "model.params.num_leavs", "did you mean 'num_leaves'"),
        ("model.params.num_leaves=abc", "model.params.num_leaves", "should be of type int"),
        ("model.params.bagging_fraction=1.5", "model.params.bagging_fraction", "must be <= 1.0"),
        ("model.name.x=1", "model.name.x", "is not a mapping"),
        ("model.params.linear_tree=true", "model.params.linear_tree", "linear trees cannot"),
        ("model.params.num_leaves", "", "not KEY=VALUE"),
    ],
)
def test_bad_set_is_a_usage_error_naming_the_key(project, arg, where, expect):
    res = run_mlx("train", "--set", arg, "--json", cwd=project)
    assert res.exit_code == 2, res.output
    text = res.output
    assert expect in text, text
    if where:
        assert where in text
        assert f"--set {arg}" in text  # the override, not a file line, is named
    assert not (project / "models" / "m" / "model.onnx").exists()


def test_bad_name_is_refused_before_training(project):
    res = run_mlx("train", "--name", "two words", cwd=project)
    assert res.exit_code == 2
    assert "--name" in res.output
    assert not (project / "models" / "m").exists()


def test_commit_message_and_dvc_exp_name(project):
    res = run_mlx(
        "train",
        "--set",
        "model.params.num_leaves=4",
        "--commit",
        cwd=project,
        env={"DVC_EXP_NAME": "bold-tern"},
    )
    assert res.exit_code == 0, res.output
    assert _meta(project)["run"]["experiment"] == "bold-tern"
    assert git(project, "log", "-1", "--format=%s").startswith("Train m [bold-tern]:")


def test_exporter_fallback_is_a_note_not_a_warning(project, monkeypatch, recwarn):
    """An onnxruntime without opset-5 TreeEnsemble: the exact slower form, said in a note."""
    from mlx import api
    from mlx.train import tree_ensemble5

    monkeypatch.setattr(tree_ensemble5, "supported", lambda: False)
    monkeypatch.chdir(project)
    result = api.train(project / "mlops.yaml")
    assert any(n.startswith("export: this onnxruntime has no") for n in result.notes), result.notes
    assert not [w for w in recwarn if "TreeEnsemble" in str(w.message)]

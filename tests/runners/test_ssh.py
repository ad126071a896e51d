"""The ssh runner against a real sshd on loopback: byte-identical models, lineage,
data through the DVC remote or shipped, and every failure with its exit code."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.conftest import git
from tests.test_json_schemas import assert_matches

pytestmark = [pytest.mark.ssh]


def add_runner(project, name: str, spec: dict, commit: bool = True) -> None:
    path = project / "mlops.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.setdefault("runners", {})[name] = spec
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    if commit:
        git(project, "commit", "-q", "-am", f"runner {name}")


def push_data(project) -> None:
    from mlx.adapters import dvc

    dvc.push(project, [project / "data" / "train.csv"])


def test_ssh_train_is_byte_identical_to_local(cli, example_project, sshd, tmp_path):
    local = tmp_path / "local"
    add_runner(example_project, "box", sshd.runner(tmp_path / "remote-work"))
    push_data(example_project)
    shutil.copytree(example_project, local, symlinks=True)

    res = cli("train", "--runner", "box", "--json", cwd=example_project)
    assert res.exit_code == 0, res.output
    assert_matches(res, "train")
    assert cli("train", cwd=local).exit_code == 0
    model, here = example_project / "models/churn", local / "models/churn"
    assert (model / "model.onnx").read_bytes() == (here / "model.onnx").read_bytes()
    assert (model / "model.lgb.txt").read_bytes() == (here / "model.lgb.txt").read_bytes()
    meta = json.loads((model / "metadata.json").read_text())
    runner = meta["runner"]
    assert runner["kind"] == "ssh" and runner["name"] == "box"
    assert runner["user"] == sshd.user and runner["host"] and runner["python"]
    assert runner["duration_s"] >= runner["stage_duration_s"] > 0
    assert runner["data"] == "dvc pull"
    assert meta["code"]["commit"] == git(example_project, "rev-parse", "HEAD")
    assert meta["code"]["tree"] == git(example_project, "rev-parse", "HEAD^{tree}")
    assert meta["data"]["path"] == "data/train.csv"
    # the host keeps the bundle for the next run, not the run folder
    work = tmp_path / "remote-work"
    assert [p.name for p in (work / "bundles").iterdir()] == [meta["code"]["tree"]]
    assert list((work / "runs").iterdir()) == []
    assert not (work / "bundles" / meta["code"]["tree"] / ".git").exists()


def small_project(root, sshd, work, frame=None, **cfg_extra):
    """A small synthetic project with the ssh runner `box`, data pushed, all committed."""
    from tests.helpers import config, make_project, synthetic

    cfg = config("binary", **cfg_extra)
    cfg["runners"] = {"box": sshd.runner(work)}
    project = make_project(root, synthetic("binary", n=300) if frame is None else frame, cfg)
    push_data(project)
    return project


def test_second_run_reuses_the_bundle_and_ship_data_sends_the_file(cli, sshd, tmp_path):
    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    first = cli("train", "--runner", "box", cwd=project)
    assert first.exit_code == 0, first.output
    assert "uploading bundle" in first.output and "dvc pull data/train.csv.dvc" in first.output
    # lines of the host's output are streamed through (the stage's own progress is a bar)
    second = cli("train", "--runner", "box", "--ship-data", "--json", cwd=project)
    assert second.exit_code == 0, second.output
    assert "already on" in second.output and "shipping data/train.csv" in second.output
    assert "dvc pull" not in second.output
    meta = json.loads((project / "models/m/metadata.json").read_text())
    assert meta["runner"]["data"] == "shipped"
    assert second.json()["runner"]["kind"] == "ssh"


def test_dirty_tree_is_refused_before_connecting(cli, sshd, tmp_path):
    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    with open(project / "mlops.yaml", "a") as fh:
        fh.write("# local edit\n")
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 2
    error = res.json()["error"]
    assert "uncommitted changes" in error["message"] and "mlops.yaml" in error["message"]
    assert "commit" in error["hint"]
    assert not (tmp_path / "work").exists()  # nothing reached the host


def test_local_data_that_differs_from_its_pointer_is_refused(cli, sshd, tmp_path):
    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    with open(project / "data/train.csv", "a") as fh:
        fh.write("999,0.1,1.0,red,S,1\n")
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 2 and "differs from its committed DVC pointer" in res.output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("closed port", "cannot reach"),
        ("key not authorised", "refused authentication"),
        ("unknown host key", "host key of"),
        ("missing key file", "does not exist"),
    ],
)
def test_connection_failures_exit_3(cli, sshd, tmp_path, case, message):
    from tests.runners.conftest import free_port

    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    spec = sshd.runner(tmp_path / "work")
    if case == "closed port":
        spec["port"] = free_port()
    elif case == "key not authorised":
        spec["identity_file"] = str(sshd.other_key)
    elif case == "unknown host key":
        empty = tmp_path / "known_hosts"
        empty.write_text("")
        spec["known_hosts"] = str(empty)
    else:
        spec["identity_file"] = str(tmp_path / "nope")
    add_runner(project, "box", spec)
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 3, res.output
    assert message in res.json()["error"]["message"]
    assert not (project / "models/m/model.onnx").exists()


def test_failed_validation_on_the_host_is_exit_1_and_installs_nothing(cli, sshd, tmp_path):
    project = small_project(
        tmp_path / "p",
        sshd,
        tmp_path / "work",
        data={"columns": {"x2": {"type": "float", "max": 5}}},
    )
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 1, res.output
    error = res.json()["error"]
    assert error["type"] == "DataValidationFailed"
    assert "failed validation" in error["message"] and "127.0.0.1" in error["message"]
    assert error["details"]["failures"][0]["column"] == "x2"
    assert not (project / "models/m").exists() or not any((project / "models/m").iterdir())
    assert list((tmp_path / "work" / "runs").iterdir()) == []
    # validate --runner runs the same check on the host: exit 1 and the host's table
    res = cli("validate", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 1, res.output
    assert_matches(res, "validate")
    doc = res.json()
    assert doc["data"]["failures"][0]["column"] == "x2"
    assert doc["data"]["path"].endswith(":data/train.csv") and doc["runner"]["kind"] == "ssh"


def test_host_python_without_mlx_is_exit_3(cli, sshd, tmp_path):
    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    spec = sshd.runner(tmp_path / "work")
    spec.pop("venv")
    spec["python"] = "/usr/bin/python3"
    add_runner(project, "box", spec)
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 3, res.output
    error = res.json()["error"]
    assert "cannot run mlx" in error["message"] and "venv" in error["hint"]


def test_data_not_pushed_is_exit_3_with_a_hint(cli, sshd, tmp_path):
    from tests.helpers import config, make_project, synthetic

    cfg = config("binary")
    cfg["runners"] = {"box": sshd.runner(tmp_path / "work")}
    project = make_project(tmp_path / "p", synthetic("binary", n=300), cfg)
    res = cli("train", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 3, res.output
    error = res.json()["error"]
    assert "dvc pull" in error["message"] and "dvc push" in error["hint"]


def test_eval_runs_on_the_host_and_results_land_here(cli, sshd, tmp_path):
    gates = {"gates": {"auc": {"min": 0.5, "max_degradation": 0.5}}}
    project = small_project(tmp_path / "p", sshd, tmp_path / "work", eval=gates)
    assert cli("train", "--commit", cwd=project).exit_code == 0
    local = cli("eval", "--json", cwd=project).json()
    git(project, "checkout", "--", ".")  # back to the committed state (eval wrote results)
    git(project, "clean", "-fdq", "models")
    res = cli("eval", "--runner", "box", "--json", "--commit", cwd=project)
    assert res.exit_code == 0, res.output
    assert_matches(res, "eval")
    remote = res.json()
    assert remote["runner"]["kind"] == "ssh" and remote["metrics"] == local["metrics"]
    assert remote["commit"] and remote["model"]["md5"] == local["model"]["md5"]
    written = json.loads((project / "models/m/eval/metrics.json").read_text())
    assert written["metrics"] == local["metrics"]
    assert (project / "models/m/eval/report.md").is_file()
    assert "models/m/eval/scores.json" in (project / "dvc.yaml").read_text()
    assert git(project, "log", "-1", "--format=%s").startswith("Eval m: passed")

    # with a model in prod, the host scores the registry's baseline too (shipped from here)
    assert cli("promote", "--stage", "prod", cwd=project).exit_code == 0
    cfg = yaml.safe_load((project / "mlops.yaml").read_text())
    cfg["model"]["seed"] = 8
    (project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert cli("train", "--commit", cwd=project).exit_code == 0
    git(project, "commit", "-qam", "seed 8")
    res = cli("eval", "--runner", "box", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    remote = res.json()
    assert remote["baseline"]["ref"] == "m#prod" and remote["baseline"]["metrics"]
    assert any(g["rule"] == "max_degradation" for g in remote["gates"]["results"])
    git(project, "checkout", "--", ".")
    local = cli("eval", "--json", cwd=project).json()
    assert local["baseline"]["metrics"] == remote["baseline"]["metrics"]


def test_ctrl_c_kills_the_remote_stage_and_leaves_nothing_behind(sshd, tmp_path):
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.helpers import interruptible, synthetic

    long = {"model": {"params": {"num_iterations": 1_000_000, "num_leaves": 7}}}
    project = small_project(tmp_path / "p", sshd, tmp_path / "work", synthetic("regression", 300))
    cfg = yaml.safe_load((project / "mlops.yaml").read_text())
    cfg["model"].update(long["model"], task="regression")
    (project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(project, "commit", "-qam", "a long train")
    proc = interruptible(
        [str(Path(sys.executable).with_name("mlx")), "train", "--runner", "box"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = tmp_path / "work" / "runs"
    pgid = None
    try:
        pgid_file = None
        deadline = time.monotonic() + 120
        while pgid_file is None and time.monotonic() < deadline and proc.poll() is None:
            found = list(runs.glob("*/stage.pgid")) if runs.exists() else []
            pgid_file = found[0] if found and found[0].read_text().strip() else None
            time.sleep(0.2)
        assert pgid_file is not None, proc.communicate()
        pgid = int(pgid_file.read_text())
        time.sleep(2)  # let the stage get into its boosting loop
        os.kill(proc.pid, 0)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr
        with pytest.raises(ProcessLookupError):  # the whole remote process group is gone
            os.killpg(pgid, 0)
    finally:  # after a failure, leave no million-round train running on the "host"
        proc.kill()
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    assert list(runs.iterdir()) == []
    models = project / "models"
    assert not models.exists() or [p.name for p in models.iterdir()] in ([], ["m"])
    assert not (models / "m" / "model.onnx").exists()
    assert git(project, "status", "--porcelain") == ""


def test_setup_requirements_creates_the_venv_once(cli, sshd, tmp_path):
    """`setup: requirements` builds a venv keyed by requirements.txt on the host. These
    requirements do not bring in mlx (installing it from an index is out of reach in
    tests), so the run then stops with the clear "cannot run mlx" error."""
    project = small_project(tmp_path / "p", sshd, tmp_path / "work")
    (project / "requirements.txt").write_text("# nothing to install\n")
    spec = sshd.runner(tmp_path / "work", setup="requirements")
    spec.pop("venv")
    git(project, "add", "requirements.txt")
    add_runner(project, "box", spec)
    for attempt in range(2):
        res = cli("train", "--runner", "box", "--json", cwd=project)
        assert res.exit_code == 3, res.output
        assert "cannot run mlx" in res.json()["error"]["message"]
        assert ("setting up" in res.output) == (attempt == 0)
    venvs = list((tmp_path / "work" / "venvs").glob("req-*"))
    assert len(venvs) == 1 and (venvs[0] / "bin" / "python").exists()
    assert (venvs[0] / ".mlx-ready").is_file()

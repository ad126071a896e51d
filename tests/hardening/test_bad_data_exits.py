"""Bad data is exit 1 wherever it is found, with the file and what is wrong; a column the
config names but the data lacks is named, with the key and near matches."""

from __future__ import annotations

import os

import pytest
import yaml

from tests.conftest import run_mlx

BAD_FILES = {
    "empty": (b"", "is empty"),
    "header-only": (b"customer_id,tenure_months,churned\n", "no rows"),
    "random-bytes": (bytes(range(256)) * 8 + os.urandom(64), "not UTF-8 text"),
}


def _point_train_at(project, name: str, content: bytes):
    path = project / "data" / f"{name}.csv"
    path.write_bytes(content)
    cfg = yaml.safe_load((project / "mlops.yaml").read_text())
    cfg["data"]["train"] = f"data/{name}.csv"
    (project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["validate", "train"])
def test_bad_training_file_is_exit_1_naming_file_and_problem(example_project, kind, command):
    content, reason = BAD_FILES[kind]
    _point_train_at(example_project, kind, content)
    res = run_mlx(command, "--json", cwd=example_project)
    assert res.exit_code == 1, res.output
    err = res.json()["error"]
    assert f"{kind}.csv" in err["message"] and reason in err["message"], err


def test_non_utf8_offset_is_the_first_bad_byte(example_project):
    good = (example_project / "data" / "train.csv").read_bytes()[:5000]
    _point_train_at(example_project, "latin1", good + b"caf\xe9\n")
    res = run_mlx("validate", "--json", cwd=example_project)
    assert res.exit_code == 1
    assert f"offset {len(good) + 3:,}" in res.json()["error"]["message"]


def test_corrupt_monitoring_file_is_exit_1(monitored):
    (monitored / "live.csv").write_bytes(bytes(range(256)) * 4)
    res = run_mlx("monitor", "--current", "live.csv", "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    assert "not UTF-8 text" in res.json()["error"]["message"]


def test_corrupt_parquet_is_exit_1(monitored):
    (monitored / "live.parquet").write_bytes(b"PAR1" + os.urandom(200))
    res = run_mlx("monitor", "--current", "live.parquet", "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    assert "Parquet" in res.json()["error"]["message"]


def test_unreadable_file_stays_an_environment_problem(example_project):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = _point_train_at(example_project, "locked", b"a,b\n1,2\n")
    path.chmod(0)
    res = run_mlx("validate", "--json", cwd=example_project)
    assert res.exit_code == 3


@pytest.mark.parametrize(
    ("edit", "key", "wrong", "suggestion"),
    [
        (lambda d: d.__setitem__("target", "churn"), "data.target", "churn", "churned"),
        (lambda d: d.__setitem__("id", "customerid"), "data.id", "customerid", "customer_id"),
        (lambda d: d.__setitem__("drop", ["regoin"]), "data.drop[0]", "regoin", "region"),
        (
            lambda d: d.__setitem__("features", ["tenure_months", "monthly_charge"]),
            "data.features[1]",
            "monthly_charge",
            "monthly_charges",
        ),
    ],
)
def test_missing_named_column_says_key_and_near_match(
    example_project, edit, key, wrong, suggestion
):
    cfg = yaml.safe_load((example_project / "mlops.yaml").read_text())
    edit(cfg["data"])
    cfg["data"].pop("columns", None)  # the rules would name the column too
    (example_project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = run_mlx("train", cwd=example_project)
    assert res.exit_code == 1, res.output
    line = " ".join(res.stderr.split())
    assert f"column '{wrong}' is missing" in line, res.stderr
    assert key in line and f"did you mean '{suggestion}'" in line, res.stderr


def test_missing_slice_column_is_named_by_validate(example_project):
    cfg = yaml.safe_load((example_project / "mlops.yaml").read_text())
    cfg.setdefault("eval", {})["slices"] = ["contrct"]
    (example_project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = run_mlx("validate", "--json", cwd=example_project)
    assert res.exit_code == 1, res.output
    (failure,) = [f for f in res.json()["data"]["failures"] if f["column"] == "contrct"]
    assert "eval.slices[0]" in failure["hint"] and "'contract'" in failure["hint"]

"""With no rules in mlops.yaml, validation still catches broken data: against the trained
model's recorded schema when there is one, else by the data's own consistency."""

from __future__ import annotations

import pytest

from tests.conftest import run_mlx
from tests.helpers import config, make_project, synthetic


@pytest.fixture
def no_rules(tmp_path):
    frame = synthetic("binary", n=569)
    return make_project(tmp_path / "p", frame, config("binary")), frame


def _write(project, frame, name="new.csv"):
    frame.to_csv(project / "data" / name, index=False)
    return f"data/{name}"


def test_a_string_in_a_float_column_fails_with_no_model(no_rules):
    project, frame = no_rules
    broken = frame.astype({"x2": object})
    broken.loc[17, "x2"] = "twelve"
    path = _write(project, broken)
    res = run_mlx("validate", "--data", path, "--json", cwd=project)
    assert res.exit_code == 1, res.output
    data = res.json()["data"]
    assert data["checked_against"] is None
    (failure,) = data["failures"]
    assert failure["column"] == "x2" and failure["values"] == ["twelve"] and failure["rows"] == [17]
    assert "leave those cells empty" in failure["hint"] and "data.categorical" in failure["hint"]

    # train refuses the same data instead of learning a categorical "x2"
    broken.to_csv(project / "data" / "train.csv", index=False)
    res = run_mlx("train", "--json", cwd=project)
    assert res.exit_code == 1, res.output
    assert "x2" in res.json()["error"]["message"]


def test_a_mostly_text_column_is_not_flagged(no_rules):
    project, frame = no_rules
    frame = frame.assign(code=[f"A{i}" if i % 2 else str(i) for i in range(len(frame))])
    res = run_mlx("validate", "--data", _write(project, frame), "--json", cwd=project)
    assert res.exit_code == 0, res.output


def test_trained_model_schema_catches_type_column_and_category_changes(no_rules):
    project, frame = no_rules
    assert run_mlx("train", cwd=project).exit_code == 0
    res = run_mlx("validate", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    assert "models/m/metadata.json" in res.json()["data"]["checked_against"]

    changed = frame.drop(columns=["size"]).astype({"x2": object})
    changed["x2"] = "unknown"  # the whole column is now text: not "mixed", but not numbers
    changed.loc[3, "color"] = "purple"
    changed.loc[5, "x1"] = 1e6
    res = run_mlx("validate", "--data", _write(project, changed), "--json", cwd=project)
    assert res.exit_code == 1, res.output
    data = res.json()["data"]
    assert "models/m/metadata.json" in data["checked_against"]
    found = {(f["column"], f["check"]) for f in data["failures"]}
    assert found == {
        ("size", "column present"),
        ("x2", "type numeric"),
        ("color", "known category"),
        ("x1", "in training range"),
    }, found
    by = {f["column"]: f for f in data["failures"]}
    assert by["color"]["values"] == ["purple"] and by["color"]["rows"] == [3]
    assert "the model m" in by["size"]["hint"]

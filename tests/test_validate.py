"""`mlx validate`: data rules from the config or a pandera file; all failures at once."""

from __future__ import annotations

import pandas as pd
import pytest

from mlx.data.schema import widen


def _corrupt(root, fn):
    path = root / "data" / "train.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(frame)
    frame.to_csv(path, index=False)


def test_example_data_passes(cli, example_project):
    res = cli("validate", cwd=example_project)
    assert res.exit_code == 0, res.output
    assert "6000 rows" in res.stdout


def test_bad_data_each_failure_named(cli, example_project):
    def corrupt(frame):
        frame.loc[3, "tenure_months"] = "twelve"  # string in a numeric column
        frame.loc[5, "plan"] = "platinum"  # unknown category
        frame.loc[7, "contract"] = ""  # null in a non-nullable column
        del frame["region"]  # missing column

    _corrupt(example_project, corrupt)
    res = cli("validate", "--json", cwd=example_project)
    assert res.exit_code == 1, res.output
    failures = {(f["column"], f["check"]): f for f in res.json()["data"]["failures"]}
    assert failures[("tenure_months", "type Int64")]["values"] == ["twelve"]
    assert failures[("tenure_months", "type Int64")]["rows"] == [3]
    assert "platinum" in failures[("plan", "isin(['basic', 'standard', 'premium'])")]["values"]
    assert failures[("contract", "not null")]["rows"] == [7]
    assert ("region", "column present") in failures
    # people get the same as a table
    res = cli("validate", cwd=example_project)
    assert res.exit_code == 1
    for text in ("tenure_months", "twelve", "platinum", "not null", "region", "column present"):
        assert text in res.stdout


def test_target_rules(cli, example_project):
    _corrupt(example_project, lambda f: f.__setitem__("churned", "1"))
    res = cli("validate", "--json", cwd=example_project)
    assert res.exit_code == 1
    checks = {f["check"] for f in res.json()["data"]["failures"]}
    assert "at least two classes" in checks


def test_data_not_pulled_is_an_environment_error(cli, example_project):
    (example_project / "data" / "train.csv").unlink()
    res = cli("validate", cwd=example_project)
    assert res.exit_code == 3
    assert "dvc pull train.csv.dvc" in res.stderr


def test_missing_config_is_usage_error(cli, tmp_path):
    res = cli("validate", cwd=tmp_path)
    assert res.exit_code == 2
    assert "mlx init" in res.stderr


def test_infer_writes_a_schema_a_user_would_accept(cli, example_project):
    cfg = example_project / "mlops.yaml"
    # drop the inline rules so the inferred schema is what is checked
    import yaml

    doc = yaml.safe_load(cfg.read_text())
    doc["data"].pop("columns")
    cfg.write_text(yaml.safe_dump(doc))
    res = cli("validate", "--infer", "--json", cwd=example_project)
    assert res.exit_code == 0, res.output
    out = res.json()
    assert out["schema_written"] == "data/schema.yaml"
    assert any("schema: data/schema.yaml" in n for n in out["notes"])
    import pandera.pandas as pa

    schema = pa.DataFrameSchema.from_yaml((example_project / "data" / "schema.yaml").read_text())
    # round trip: what we read back is what we wrote
    assert pa.DataFrameSchema.from_yaml(schema.to_yaml()) == schema
    tenure = schema.columns["tenure_months"]
    bounds = tenure.checks[0].statistics
    assert bounds["min_value"] == 0 and 72 < bounds["max_value"] <= 100  # margin, not observed max
    assert set(schema.columns["plan"].checks[0].statistics["allowed_values"]) == {
        "basic",
        "standard",
        "premium",
    }
    assert schema.columns["customer_id"].unique
    assert schema.columns["total_charges"].nullable and not schema.columns["tenure_months"].nullable
    # referenced from the config, it catches an unseen category
    doc["data"]["schema"] = "data/schema.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    _corrupt(example_project, lambda f: f.loc.__setitem__((0, "region"), "atlantis"))
    res = cli("validate", "--json", cwd=example_project)
    assert res.exit_code == 1
    assert any("atlantis" in f["values"] for f in res.json()["data"]["failures"])


@pytest.mark.parametrize(
    ("lo", "hi", "integral", "expected"),
    [
        (0, 72, True, (0, 80)),
        (18.25, 119.8, False, (0, 130)),
        (-5.0, 5.0, False, (-6, 6)),
        (3, 3, True, (2, 4)),
    ],
)
def test_widen_ranges(lo, hi, integral, expected):
    assert widen(lo, hi, integral) == expected

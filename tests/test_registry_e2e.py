"""End to end with real training: train → eval → promote → retrain → eval vs churn#prod."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from tests.conftest import git

pytestmark = pytest.mark.slow


def _ok(res):
    assert res.exit_code == 0, res.output
    return res.json()


def test_trained_model_is_promoted_and_becomes_the_next_baseline(cli, example_project):
    p = example_project
    _ok(cli("train", "--commit", "--json", cwd=p))
    first = _ok(cli("eval", "--commit", "--json", cwd=p))
    assert first["baseline"] is None  # nothing in prod yet
    doc = _ok(cli("promote", "--stage", "prod", "--json", cwd=p))
    assert doc["version"] == "v0.0.1" and doc["forced"] is False

    lineage = _ok(cli("lineage", "churn#prod", "--json", cwd=p))
    meta = json.loads((p / "models/churn/metadata.json").read_text())
    assert lineage["data"]["md5"] == meta["data"]["md5"]
    assert lineage["params"] == meta["params"] and lineage["seed"] == meta["seed"]
    assert lineage["packages"]["lightgbm"] and lineage["runner"]["kind"] == "local"
    assert lineage["eval"]["passed"] and lineage["eval"]["matches_model"]

    from mlx import api

    local = api.open_model("churn#prod", config=p / "mlops.yaml")
    assert hashlib.md5(local.onnx_path.read_bytes()).hexdigest() == lineage["model"]["md5"]
    assert [f.to_dict() for f in local.metadata.features] == meta["features"]

    # retrain with fewer trees: eval compares against churn#prod on the same rows
    cfg = yaml.safe_load((p / "params.yaml").read_text())
    cfg["model"]["params"]["num_iterations"] = 60
    (p / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(p, "commit", "-q", "-am", "fewer trees")
    _ok(cli("train", "--commit", "--json", cwd=p))
    res = cli("eval", "--commit", "--json", cwd=p)
    second = res.json()
    assert second["baseline"]["ref"] == "churn#prod"
    assert second["baseline"]["version"] == "v0.0.1"
    assert second["baseline"]["metrics"]["auc"] == pytest.approx(first["metrics"]["auc"])
    change_gate = next(g for g in second["gates"]["results"] if g["rule"] == "max_degradation")
    assert change_gate["baseline"] == pytest.approx(first["metrics"]["auc"])
    assert second["passed"] is True  # 60 trees do not overfit this data as 200 do
    doc = _ok(cli("promote", "--stage", "prod", "--json", cwd=p))
    assert (doc["version"], doc["previous"]) == ("v0.0.2", "v0.0.1")
    assert _ok(cli("lineage", "churn#prod", "--json", cwd=p))["parent"]["version"] == "v0.0.1"
    doc = _ok(cli("promote", "churn", "--stage", "prod", "--rollback", "--json", cwd=p))
    assert doc["holder"] == "v0.0.1"
    assert api.resolve_model("churn#prod", config=p / "mlops.yaml").version == "v0.0.1"

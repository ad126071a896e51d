"""Column names LightGBM refuses (``price [USD]``, ``a:b``) train and serve under their own
names: only LightGBM is given a sanitized copy."""

from __future__ import annotations

import json

import numpy as np

from mlx.train.export import session
from mlx.train.features import CATEGORICAL, NUMERIC, Feature, lightgbm_names
from tests.helpers import config, make_project, synthetic


def test_lightgbm_names_replace_json_characters_and_stay_unique():
    features = [
        Feature("price [USD]", NUMERIC),
        Feature("price _USD_", NUMERIC),  # what the first would become
        Feature("a:b", NUMERIC),
        Feature("a,b", CATEGORICAL, ("x",)),
        Feature('q"{}', NUMERIC),
        Feature("plain name", NUMERIC),
    ]
    names = lightgbm_names(features)
    assert names == ["price _USD__2", "price _USD_", "a_b", "a_b_2", "q___", "plain name"]
    assert len(set(names)) == len(names)


def test_train_and_score_with_json_characters_in_column_names(cli, tmp_path):
    frame = synthetic("binary", n=600).rename(columns={"x1": "price [USD]", "color": "a:b"})
    root = make_project(tmp_path / "p", frame, config("binary"))
    res = cli("train", "--json", cwd=root)
    assert res.exit_code == 0, res.output
    meta = json.loads((root / "models/m/metadata.json").read_text())
    assert [f["name"] for f in meta["features"]][:3] == ["price [USD]", "x2", "a:b"]
    sess = session((root / "models/m/model.onnx").read_bytes())
    assert [i.name for i in sess.get_inputs()][:3] == ["price [USD]", "x2", "a:b"]
    rows = frame.head(5)
    feed = {
        "price [USD]": rows["price [USD]"].to_numpy(np.float32).reshape(-1, 1),
        "x2": rows["x2"].to_numpy(np.float32).reshape(-1, 1),
        "a:b": rows["a:b"].fillna("").to_numpy(object).reshape(-1, 1),
        "size": rows["size"].to_numpy(object).reshape(-1, 1),
    }
    probs = sess.run(["probabilities"], feed)[0]
    assert probs.shape == (5, 2) and np.allclose(probs.sum(axis=1), 1.0)

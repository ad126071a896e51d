"""Category values as text, the same in training, the served graph, scoring and monitoring.

An id-like code column with missing values is float in pandas and Parquet (``10043.0``);
clients send ``10043`` and arrow reads it as ``"10043"``. An empty string is missing."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from mlx.data.text import as_text, category_text
from mlx.monitor.engine import category_counts
from mlx.train.export import session
from mlx.train.features import Feature, to_lightgbm_frame
from tests.conftest import git
from tests.helpers import make_project


def test_category_text_conventions():
    assert category_text(pd.Series([10043.0, np.nan, 7.0])).tolist()[::2] == ["10043", "7"]
    assert category_text(pd.Series([1.5, 2.0])).tolist() == ["1.5", "2"]  # value by value
    assert category_text(pd.Series([2.0**60, 1.0])).tolist() == [str(2.0**60), "1"]
    # the text arrow gives (mlx serve --batch, mlx monitor read files with it)
    floats = [1.5, 2.0, None, 1e20, 0.1, -3.0, 10043.0, 2.0**60]
    arrow = pa.array(floats, type=pa.float64()).cast(pa.string()).to_pylist()
    ours = category_text(pd.Series(floats, dtype="float64"))
    assert [None if pd.isna(v) else v for v in ours] == arrow
    # mlx monitor counts the current data's categories in the same text
    counts, nulls = category_counts(pa.chunked_array([pa.array([1.5, 2.0, 2.0, None])]))
    assert counts == {"1.5": 1, "2": 2} and nulls == 1
    empty = category_text(pd.Series(["a", "", None, " "]))
    assert empty.isna().tolist() == [False, True, True, False]
    assert category_text(pd.Series(pd.array([3, None], dtype="Int64"))).tolist()[0] == "3"
    assert category_text(pd.Series([True, False])).tolist() == ["True", "False"]
    assert category_text(pd.Series(["x", None], dtype="string")).isna().tolist() == [False, True]


def _frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    code = rng.integers(10000, 10040, n).astype(float)
    code[rng.random(n) < 0.05] = np.nan
    word = pd.Series(rng.choice(["a", "b", "", "c"], n)).where(rng.random(n) > 0.05, None)
    count = pd.Series(pd.array(rng.integers(0, 5, n), dtype="Int64"))
    count[rng.random(n) < 0.1] = pd.NA
    x = rng.normal(size=n)
    signal = (np.nan_to_num(code) % 5 > 2) + (word == "").astype(float) + x
    y = (signal + rng.normal(0, 0.3, n) > 1.0).astype(int)
    return pd.DataFrame({"code": code, "word": word, "count": count, "x": x, "y": y})


def _parquet_project(root, frame: pd.DataFrame, cfg: dict):
    """A project whose training data is ``frame`` as DVC-tracked data/train.parquet."""
    from mlx.adapters import dvc

    root = make_project(root, frame.head(5), cfg, commit=False)
    (root / "data" / "train.csv").unlink()
    (root / "data" / "train.csv.dvc").unlink()
    frame.to_parquet(root / "data" / "train.parquet", index=False)
    dvc.add(root, [root / "data" / "train.parquet"])
    (root / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "parquet data")
    return root


def test_float_codes_and_empty_strings_train_and_serve_as_text(cli, tmp_path):
    """Parquet with a float code column (declared categorical), "" and None in a string
    column and a nullable Int64 column: parity passes, the categories are the codes' text,
    the graph scores 10043.0 (as LightGBM sees it) for "10043", "" as missing, and the
    reference profile knows every category."""
    frame = _frame()
    cfg = {
        "data": {"train": "data/train.parquet", "target": "y", "categorical": ["code", "word"]},
        "model": {"name": "m", "task": "binary", "params": {"num_iterations": 30}, "seed": 7},
    }
    root = _parquet_project(tmp_path / "p", frame, cfg)

    res = cli("train", "--json", cwd=root)
    assert res.exit_code == 0, res.output
    meta = json.loads((root / "models/m/metadata.json").read_text())
    features = [Feature.from_dict(f) for f in meta["features"]]
    by_name = {f.name: f for f in features}
    assert by_name["code"].categories[:2] == ("10000", "10001")
    assert by_name["word"].categories == ("a", "b", "c")
    assert set(meta["profile"]["features"]["code"]["freqs"]) == set(by_name["code"].categories)

    rows = frame.head(200).drop(columns=["y"]).copy()
    rows.loc[0:9, "word"] = ""
    rows.loc[10:19, "word"] = None
    sess = session((root / "models/m/model.onnx").read_bytes())
    feed = {
        "code": np.array(
            [[""] if np.isnan(v) else [str(int(v))] for v in rows["code"]], dtype=object
        ),
        "word": rows["word"].fillna("").to_numpy(object).reshape(-1, 1),
        "count": rows["count"].to_numpy(np.float32, na_value=np.nan).reshape(-1, 1),
        "x": rows["x"].to_numpy(np.float32).reshape(-1, 1),
    }
    onnx_p1 = sess.run(["probabilities"], feed)[0][:, 1]
    booster = lgb.Booster(model_file=str(root / "models/m/model.lgb.txt"))
    native = booster.predict(to_lightgbm_frame(rows, features))
    # LightGBM is given the float codes and "" as missing (what the stage trained on)
    assert np.abs(onnx_p1 - native).max() <= 1e-5
    # mlx serve --batch reads the Parquet file with arrow: the same categories
    out = tmp_path / "scored.parquet"
    res = cli("serve", "--batch", "data/train.parquet", "--output", str(out), "--json", cwd=root)
    assert res.exit_code == 0, res.output
    everything = booster.predict(to_lightgbm_frame(frame, features))
    assert np.abs(pd.read_parquet(out)["_score"].to_numpy() - everything).max() <= 1e-5
    blank = dict(feed, word=np.full((200, 1), "", dtype=object))
    unknown = dict(feed, word=np.full((200, 1), "zzz", dtype=object))
    assert np.array_equal(
        sess.run(["probabilities"], blank)[0], sess.run(["probabilities"], unknown)[0]
    )


def test_validation_sees_empty_strings_as_values_the_model_sees_as_missing(cli, tmp_path):
    """Validation checks the data as read ("" is a value an inferred schema lists);
    only the model's view turns "" into missing."""
    assert as_text(pd.Series(["a", "", None])).tolist()[:2] == ["a", ""]
    frame = _frame(400)
    cfg = {
        "data": {"train": "data/train.parquet", "target": "y", "schema": "schema.yaml"},
        "model": {"name": "m", "task": "binary", "params": {"num_iterations": 5}, "seed": 7},
    }
    root = _parquet_project(tmp_path / "p", frame.drop(columns=["code", "count"]), cfg)
    assert (pd.read_parquet(root / "data" / "train.parquet")["word"] == "").sum() > 50
    assert cli("validate", "--infer", cwd=root).exit_code == 0
    res = cli("validate", cwd=root)
    assert res.exit_code == 0, res.output

"""The reference profile: layout, exactness on discrete data, determinism, size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlx.monitor.profile import build_profile

FEATURES = [
    {"name": "age", "kind": "numeric"},
    {"name": "calls", "kind": "numeric"},
    {"name": "flag", "kind": "numeric"},
    {"name": "plan", "kind": "categorical", "categories": ["basic", "premium", "standard"]},
]


def _frame(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n)
    age[:50] = np.nan
    age[50:55] = np.inf
    return pd.DataFrame(
        {
            "age": age,
            "calls": rng.poisson(2, n),  # discrete: ties at every decile
            "flag": rng.random(n) < 0.3,
            "plan": pd.Series(
                rng.choice(["basic", "standard", "premium", ""], n, p=[0.5, 0.3, 0.19, 0.01])
            ),
            "unused": rng.random(n),
        }
    )


def test_layout_and_invariants():
    frame = _frame()
    scores = np.random.default_rng(1).random(1200).astype("float32")
    prof = build_profile(frame, FEATURES, scores, "binary")
    assert prof["format"] == 1 and prof["task"] == "binary" and prof["rows"] == 5000
    assert list(prof["features"]) == ["age", "calls", "flag", "plan"]  # metadata order
    age = prof["features"]["age"]
    assert age["null_rate"] == 0.01 and age["inf_rate"] == 0.001 and age["count"] == 4945
    finite = frame["age"][np.isfinite(frame["age"])]
    assert age["min"] == finite.min() and age["max"] == finite.max()
    assert age["mean"] == pytest.approx(finite.mean()) and age["std"] == pytest.approx(
        finite.std(ddof=0)
    )
    assert len(age["edges"]) == 9 and len(age["freqs"]) == 10
    assert all(f == pytest.approx(0.1, abs=0.001) for f in age["freqs"])
    assert len(age["grid"]) == 101 and age["cdf"][-1] == 1.0
    assert set(age["edges"]) <= set(age["grid"])  # deciles are on the percentile grid
    assert age["grid"] == sorted(age["grid"]) and age["cdf"] == sorted(age["cdf"])
    assert prof["score"]["count"] == 1200 and prof["score"]["min"] >= 0


def test_discrete_feature_bins_are_exact():
    frame = _frame()
    calls = prof_of(frame)["features"]["calls"]
    values = frame["calls"].to_numpy()
    # edges are values that occur; each bin frequency is the exact share of its values
    assert set(calls["edges"]) <= set(values.tolist())
    bounds = [-np.inf, *calls["edges"], np.inf]
    for lo, hi, freq in zip(bounds[:-1], bounds[1:], calls["freqs"], strict=True):
        assert freq == pytest.approx(np.mean((values > lo) & (values <= hi)))
    for g, c in zip(calls["grid"], calls["cdf"], strict=True):
        assert c == pytest.approx(np.mean(values <= g))
    flag = prof_of(frame)["features"]["flag"]
    assert flag["grid"] == [0.0, 1.0] and flag["edges"] == [0.0]  # bool -> 0/1, max not an edge
    assert flag["freqs"] == pytest.approx([np.mean(~frame["flag"]), np.mean(frame["flag"])])


def test_categorical_frequencies_and_nulls():
    frame = _frame()
    plan = prof_of(frame)["features"]["plan"]
    assert plan["kind"] == "categorical"
    assert list(plan["freqs"]) == ["basic", "premium", "standard"]
    nonempty = frame["plan"][frame["plan"] != ""]
    assert plan["count"] == len(nonempty)
    assert plan["null_rate"] == pytest.approx((frame["plan"] == "").mean())  # "" is missing
    assert plan["freqs"]["basic"] == pytest.approx((nonempty == "basic").mean())
    assert sum(plan["freqs"].values()) == pytest.approx(1.0)


def test_listed_categories_absent_from_data_are_kept_with_zero():
    frame = pd.DataFrame({"c": ["a", "b", None]})
    prof = build_profile(
        frame,
        [{"name": "c", "kind": "categorical", "categories": ["a", "b", "z"]}],
        None,
        "regression",
    )
    assert prof["features"]["c"]["freqs"] == {"a": 0.5, "b": 0.5, "z": 0.0}
    assert prof["score"] is None


def test_degenerate_columns():
    frame = pd.DataFrame({"const": [3.0] * 10, "empty": [np.nan] * 10})
    feats = [{"name": "const", "kind": "numeric"}, {"name": "empty", "kind": "numeric"}]
    prof = build_profile(frame, feats, None, "regression")
    const = prof["features"]["const"]
    assert const["edges"] == [] and const["freqs"] == [1.0] and const["std"] == 0.0
    empty = prof["features"]["empty"]
    assert empty["count"] == 0 and empty["null_rate"] == 1.0 and empty["min"] is None


def test_deterministic_small_and_json():
    frame = _frame(20_000)
    a = json.dumps(prof_of(frame), sort_keys=False)
    b = json.dumps(prof_of(frame.copy()), sort_keys=False)
    assert a == b
    per_feature = len(a) / len(FEATURES)
    assert per_feature < 6_000, per_feature  # a few KB per feature


def test_missing_column_is_bad_data():
    from mlx.errors import BadDataFile

    with pytest.raises(BadDataFile, match="nope"):
        build_profile(
            pd.DataFrame({"a": [1]}), [{"name": "nope", "kind": "numeric"}], None, "binary"
        )


def prof_of(frame):
    return build_profile(frame, FEATURES, None, "binary")

"""Drift statistics: agreement with scipy, effect sizes, noise floors, arrow extraction."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from mlx.monitor import stats as st
from mlx.monitor.engine import category_counts, float64_numpy, numeric_values
from mlx.monitor.profile import categorical_profile, numeric_profile


def test_contingency_test_matches_scipy():
    ref = np.array([400.0, 300.0, 200.0, 100.0])
    cur = np.array([90.0, 80.0, 60.0, 20.0])
    chi2, p = st.contingency_test(ref, cur)
    expected = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert chi2 == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_contingency_test_merges_rare_columns_and_drops_empty():
    chi2, p = st.contingency_test(
        np.array([500.0, 500.0, 3.0, 0.0]), np.array([50.0, 50.0, 2.0, 0.0])
    )
    merged = sps.chi2_contingency(np.array([[500, 500, 3], [50, 50, 2]]), correction=False)
    assert chi2 == pytest.approx(merged.statistic)  # the 3+2 column is merged (alone: kept)
    assert st.contingency_test(np.array([10.0]), np.array([5.0])) == (0.0, 1.0)


def test_noise_floors_match_their_distributions():
    assert st.psi_noise(10, 1000, 1000, 0.05) == pytest.approx(sps.chi2.ppf(0.95, 9) * 0.002)
    assert st.ks_noise(1000, 1000, 0.05) == pytest.approx(sps.kstwobign.isf(0.05) * np.sqrt(0.002))
    assert st.psi_noise(1, 10, 10, 0.05) == float("inf")


def test_numeric_effect_sizes():
    rng = np.random.default_rng(3)
    ref = numeric_profile(rng.normal(10, 2, 50_000))
    same = st.numeric_drift(ref, rng.normal(10, 2, 20_000))
    assert same["psi"] < 0.01 and same["ks"] < 0.02 and same["wasserstein"] < 0.03
    shifted = st.numeric_drift(ref, rng.normal(10.6, 2, 20_000))  # +0.3σ
    assert shifted["mean_shift"] == pytest.approx(0.3, abs=0.03)
    assert shifted["wasserstein"] == pytest.approx(0.3, abs=0.03)
    assert shifted["ks"] == pytest.approx(sps.norm.cdf(0.15) - sps.norm.cdf(-0.15), abs=0.015)
    assert sum(shifted["freqs"]) == pytest.approx(1.0)


def test_numeric_rates_and_range():
    ref = numeric_profile(np.arange(100, dtype="float64"))
    values = np.array([np.nan, np.inf, -1.0, 200.0, 5.0, 6.0])
    out = st.numeric_drift(ref, values)
    assert out["null_rate"] == pytest.approx(1 / 6) and out["inf_rate"] == pytest.approx(1 / 6)
    assert out["below_min"] == 1 and out["above_max"] == 1 and out["count"] == 4


def test_categorical_unseen_and_psi():
    ref = categorical_profile(
        __import__("pandas").Series(["a"] * 600 + ["b"] * 400, dtype="string"), ["a", "b"]
    )
    out = st.categorical_drift(ref, {"a": 500, "b": 380, "zz": 120}, nulls=10, rows=1010)
    assert out["unseen_share"] == pytest.approx(0.12) and out["unseen"] == {"zz": 120}
    assert out["pvalue"] < 1e-10 and out["psi"] > 0.5
    same = st.categorical_drift(ref, {"a": 598, "b": 402}, nulls=0, rows=1000)
    assert same["pvalue"] > 0.5 and same["psi"] < 0.001


def test_float64_numpy_handles_nulls_offsets_and_chunks():
    arr = pa.chunked_array([pa.array([1.0, None, 3.0, 4.0]).slice(1), pa.array([None, 7.5])])
    out = float64_numpy(arr)
    assert np.isnan(out[0]) and out[1:3].tolist() == [3.0, 4.0]
    assert np.isnan(out[3]) and out[4] == 7.5
    ints = numeric_values(pa.chunked_array([pa.array([1, None, 3], pa.int32())]))[0]
    assert np.isnan(ints[1]) and ints[2] == 3.0


def test_numbers_in_text_columns():
    values, bad, examples = numeric_values(
        pa.chunked_array([pa.array(["1.5", "twelve", None, ""])])
    )
    assert values[0] == 1.5 and bad == 1 and examples == ["twelve"]
    clean, bad, _ = numeric_values(pa.chunked_array([pa.array(["1", "2"])]))
    assert clean.tolist() == [1.0, 2.0] and bad == 0


def test_category_counts():
    counts, nulls = category_counts(pa.chunked_array([pa.array(["a", "b", "a", None, ""])]))
    assert counts == {"a": 2, "b": 1} and nulls == 2
    counts, _ = category_counts(pa.chunked_array([pa.array([1.0, 2.0, None])]))
    assert counts == {"1": 1, "2": 1}  # whole floats are the categories "1", "2"

"""Monitoring fixtures: the example project with a model folder holding a reference profile.

Until `mlx train` exists on this branch, the model folder is written here with the same
``build_profile`` call train makes (metadata.json only, no ONNX), from the first 4,000
training rows; the other 2,000 rows are a no-drift "current" sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlx.monitor.profile import build_profile

CATEGORICAL = ["plan", "contract", "payment_method", "region", "paperless_billing"]
IMPORTANCE = {
    "monthly_charges": 0.30,
    "tenure_months": 0.25,
    "contract": 0.15,
    "support_calls": 0.10,
    "total_charges": 0.06,
    "age": 0.05,
    "payment_method": 0.04,
    "plan": 0.02,
    "paperless_billing": 0.02,
    "region": 0.01,
}
REF_ROWS = 4000


def read_train(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data" / "train.csv", dtype={c: "str" for c in CATEGORICAL})


def features_of(frame: pd.DataFrame) -> list[dict]:
    out = []
    for col in frame.columns:
        if col in ("customer_id", "churned"):
            continue
        if col in CATEGORICAL:
            cats = sorted(frame[col].dropna().unique().tolist())
            out.append({"name": col, "kind": "categorical", "categories": cats})
        else:
            out.append({"name": col, "kind": "numeric"})
    return out


def fake_scores(frame: pd.DataFrame) -> np.ndarray:
    """A deterministic stand-in for model scores: a logistic of monthly charges."""
    x = frame["monthly_charges"].to_numpy(dtype="float64")
    return 1 / (1 + np.exp(-(x - 65) / 15))


@pytest.fixture
def monitored(example_project) -> Path:
    """Example project + models/churn/metadata.json (profile of the first 4,000 rows)."""
    train = read_train(example_project)
    ref = train.iloc[:REF_ROWS]
    features = features_of(train)
    meta = {
        "format": 1,
        "name": "churn",
        "task": "binary",
        "target": "churned",
        "id": "customer_id",
        "classes": [0, 1],
        "features": features,
        "metrics": {"auc": 0.8, "log_loss": 0.45, "accuracy": 0.78},
        "feature_importance": IMPORTANCE,
        "profile": build_profile(ref, features, fake_scores(ref), "binary"),
    }
    folder = example_project / "models" / "churn"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(meta, indent=1))
    return example_project


@pytest.fixture
def holdout(monitored) -> pd.DataFrame:
    """The 2,000 training rows not in the reference: a no-drift current sample."""
    return read_train(monitored).iloc[REF_ROWS:].reset_index(drop=True)

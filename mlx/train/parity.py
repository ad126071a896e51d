"""ONNX vs native LightGBM on the rows where they are most likely to disagree.

Rows checked: held-out rows (all of them up to :data:`HELD_OUT_SAMPLE`, an evenly spread
sample beyond, so the check's cost is bounded: LightGBM's ``predict`` on 200k held-out
rows cost more than the fit's tenth); rows with a numeric feature placed on each of its
split thresholds: on the training values either side of it, and on the threshold
itself when FP32 can hold it (see :mod:`mlx.train.thresholds`); rows with each feature
missing; rows with each categorical
feature set to a category training never saw. Tolerance: max |Δ| ≤ 1e-5 on
probabilities, relative to max(1, |y|) for regression.

The check's cost is the sample and the probes on both sides. The train stage scores
every held-out row through onnxruntime anyway (the recorded metrics and the drift
reference use them) and passes those predictions in, so the sampled rows are not scored
twice. onnxruntime runs in row chunks on all cores (:mod:`mlx.util.rowchunks`; the
session must have one intra-op thread, as :func:`mlx.train.export.session` gives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlx.errors import StageFailed
from mlx.model_files import OUTPUT_PREDICTION, OUTPUT_PROBABILITIES
from mlx.train.features import CATEGORICAL, Feature, to_lightgbm_frame, to_onnx_inputs
from mlx.train.thresholds import probe_values, split_thresholds

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

TOLERANCE = 1e-5
UNSEEN = "__mlx_unseen_category__"
BASE_ROWS = 50  # held-out rows each probe is applied to
HELD_OUT_SAMPLE = 10_000  # held-out rows compared with LightGBM (ONNX scores all of them)


@dataclass
class ParityReport:
    max_abs_diff: float
    rows: int
    worst: list[dict[str, Any]]
    by_probe: dict[str, float]

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_abs_diff": self.max_abs_diff,
            "rows": self.rows,
            "tolerance": TOLERANCE,
            "by_probe": self.by_probe,
        }


def probe_frames(
    test: pd.DataFrame,
    features: list[Feature],
    booster: lgb.Booster,
    train_values: dict[int, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Named sets of rows to compare on.

    Each probe is a held-out row with one feature replaced; the rows are taken in one
    vectorised step per probe set (thousands of one-row frames concatenated cost
    seconds at 1M rows)."""
    import numpy as np

    train_values = train_values or {}
    names = [f.name for f in features]
    base = test[names].head(BASE_ROWS).reset_index(drop=True)
    probes = {"held-out": test[names].iloc[held_out_rows(len(test))].reset_index(drop=True)}
    rows, columns, values = [], [], []
    for idx, thresholds in split_thresholds(booster).items():
        for i, t in enumerate(sorted(thresholds)):
            for value in probe_values(t, train_values.get(idx)):
                rows.append(i % len(base))
                columns.append(features[idx].name)
                values.append(value)
    if rows:
        frame = base.iloc[rows].reset_index(drop=True)
        columns_arr, values_arr = np.array(columns, dtype=object), np.array(values)
        for name in dict.fromkeys(columns):
            mask = columns_arr == name
            col = frame[name].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            col[mask] = values_arr[mask]
            frame[name] = col
        probes["on split thresholds"] = frame
    probes["missing values"] = _one_feature_set(base, features, lambda f: None)
    categorical = [f for f in features if f.kind == CATEGORICAL]
    if categorical:
        probes["unseen categories"] = _one_feature_set(base, categorical, lambda f: UNSEEN)
    return probes


def held_out_rows(n: int):
    """Positions of the held-out rows compared with LightGBM: all, or an even spread."""
    import numpy as np

    if n <= HELD_OUT_SAMPLE:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, HELD_OUT_SAMPLE).round().astype(np.int64))


def _one_feature_set(base: pd.DataFrame, features: list[Feature], value) -> pd.DataFrame:
    """``base`` repeated once per feature, with that feature set to ``value(feature)``."""
    import numpy as np

    n = len(base)
    frame = base.iloc[np.tile(np.arange(n), len(features))].reset_index(drop=True)
    for j, f in enumerate(features):
        col = frame[f.name].astype(object).to_numpy(copy=True)
        col[j * n : (j + 1) * n] = value(f)
        frame[f.name] = col
    return frame


def predictions(
    session, booster: lgb.Booster, frame: pd.DataFrame, features: list[Feature], task: str
):
    """(onnx, native) predictions on the same rows, as comparable float64 arrays."""
    return onnx_predictions(session, frame, features, task), native_predictions(
        booster, frame, features, task
    )


def onnx_predictions(session, frame: pd.DataFrame, features: list[Feature], task: str):
    import numpy as np

    from mlx.util.rowchunks import run_in_chunks

    names = [o.name for o in session.get_outputs()]
    scored = run_in_chunks(lambda f: session.run(None, f), to_onnx_inputs(frame, features))
    outputs = dict(zip(names, scored, strict=True))
    if task == "regression":
        return outputs[OUTPUT_PREDICTION][:, 0].astype(np.float64)
    return outputs[OUTPUT_PROBABILITIES].astype(np.float64)


def native_predictions(
    booster: lgb.Booster, frame: pd.DataFrame, features: list[Feature], task: str
):
    import numpy as np

    native = np.asarray(booster.predict(to_lightgbm_frame(frame, features)), dtype=np.float64)
    if task == "binary":
        native = np.column_stack([1 - native, native])
    return native


def check_parity(
    session,
    booster: lgb.Booster,
    test: pd.DataFrame,
    features: list[Feature],
    task: str,
    train_values: dict[int, Any] | None = None,
    held_out=None,
) -> ParityReport:
    """Raises :class:`StageFailed` when they disagree. ``held_out``: the ONNX
    predictions on every row of ``test``, when the caller has them."""
    import numpy as np

    worst: list[dict[str, Any]] = []
    by_probe: dict[str, float] = {}
    total = 0
    overall = 0.0
    for name, frame in probe_frames(test, features, booster, train_values).items():
        if name == "held-out" and held_out is not None:
            onnx_pred = held_out[held_out_rows(len(test))]
        else:
            onnx_pred = onnx_predictions(session, frame, features, task)
        native = native_predictions(booster, frame, features, task)
        diff = np.abs(onnx_pred - native)
        if task == "regression":
            diff = diff / np.maximum(1.0, np.abs(native))
        diff = diff.reshape(len(frame), -1).max(axis=1)
        by_probe[name] = float(diff.max()) if len(diff) else 0.0
        overall = max(overall, by_probe[name])
        total += len(frame)
        for i in np.argsort(-diff)[:3]:
            if diff[i] > TOLERANCE:
                worst.append(
                    {"probe": name, "diff": float(diff[i]), "row": _row(frame.iloc[int(i)])}
                )
    report = ParityReport(overall, total, worst, by_probe)
    if not report.ok:
        lines = [f"  {w['probe']}: |Δ|={w['diff']:.3g} at {w['row']}" for w in worst[:5]]
        raise StageFailed(
            f"ONNX and LightGBM disagree: max |Δ| = {overall:.3g} > {TOLERANCE:g} over {total} rows\n"
            + "\n".join(lines),
            hint="values within float32 precision of a split threshold are the usual cause; "
            "round such features or report the rows",
            details=report.to_dict() | {"worst": worst},
        )
    return report


def _row(series) -> dict[str, Any]:
    """One probe row for the message: missing values (None, NaN, ``pd.NA``) as None."""
    import pandas as pd

    return {
        k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
        for k, v in series.items()
    }

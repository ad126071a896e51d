"""Live metrics from joined labels, compared with the metrics recorded at train time.

Labels come from a file with the config's id column and target. They join the current
rows on the id column when the current data has it, else on ``_request_id`` (prediction
logs carry the request id, not the row id, unless the client sent the id as the request
id). Metrics are sklearn's; only those computable from what monitoring has are reported:
the score (binary probability / regression prediction) and the predicted class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlx.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

HIGHER_IS_BETTER = {"auc", "accuracy", "precision", "recall", "f1", "macro_f1", "r2"}


def join_labels(ids: list[Any], labels: dict[Any, Any]) -> tuple[np.ndarray, list[Any]]:
    """Row positions of ``ids`` that have a label, and those labels (as given)."""
    import numpy as np

    positions, values = [], []
    for i, key in enumerate(ids):
        if key is not None and str(key) in labels:
            positions.append(i)
            values.append(labels[str(key)])
    return np.asarray(positions, dtype=np.int64), values


def live_metrics(
    task: str,
    classes: list[Any] | None,
    y_true: list[Any],
    scores: np.ndarray | None,
    predicted: np.ndarray | None,
) -> dict[str, float]:
    """Metrics of the model on labelled live rows (``predicted``: class indexes)."""
    import numpy as np
    from sklearn import metrics as m

    if task == "regression":
        y = np.asarray(y_true, dtype="float64")
        if scores is None:
            return {}
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y, scores))),
            "mae": float(m.mean_absolute_error(y, scores)),
            "r2": float(m.r2_score(y, scores)) if len(y) > 1 else float("nan"),
        }
    index = _class_index(classes)
    try:
        y = np.asarray([index[str(v)] for v in y_true], dtype=np.int64)
    except KeyError as exc:
        raise UsageError(
            f"label {exc.args[0]!r} is not one of the model's classes {classes}"
        ) from None
    out: dict[str, float] = {}
    if task == "binary" and scores is not None:
        p = np.clip(scores.astype("float64"), 1e-15, 1 - 1e-15)
        if len(set(y.tolist())) == 2:
            out["auc"] = float(m.roc_auc_score(y, p))
        out["log_loss"] = float(m.log_loss(y, p, labels=[0, 1]))
        out["brier"] = float(m.brier_score_loss(y, p))
        if predicted is None:
            predicted = (p >= 0.5).astype(np.int64)
    if predicted is not None:
        out["accuracy"] = float(m.accuracy_score(y, predicted))
        if task == "binary":
            out["precision"] = float(m.precision_score(y, predicted, zero_division=0))
            out["recall"] = float(m.recall_score(y, predicted, zero_division=0))
            out["f1"] = float(m.f1_score(y, predicted, zero_division=0))
        else:
            out["macro_f1"] = float(m.f1_score(y, predicted, average="macro", zero_division=0))
    return out


def _class_index(classes: list[Any] | None) -> dict[str, int]:
    if not classes:
        raise UsageError("the model metadata has no classes; cannot score labels")
    index = {str(c): i for i, c in enumerate(classes)}
    for i, c in enumerate(classes):  # 1 and 1.0 and "1" are the same class
        if isinstance(c, (int, float)) and float(c).is_integer():
            index.setdefault(str(int(c)), i)
            index.setdefault(str(float(c)), i)
    return index


def compare(
    live: dict[str, float],
    recorded: dict[str, Any],
    rows: int,
    unmatched: int,
    degradation: float | None,
) -> dict[str, Any]:
    """Each live metric beside the train-time one, its relative change and verdict."""
    rows_out = []
    degraded = []
    for name, value in live.items():
        before = recorded.get(name)
        change = None
        worse = False
        if isinstance(before, (int, float)) and before == before and before != 0:
            sign = 1 if name in HIGHER_IS_BETTER else -1
            change = sign * (value - before) / abs(before)  # < 0 = worse
            worse = degradation is not None and change < -degradation
        if worse:
            degraded.append(name)
        rows_out.append(
            {"metric": name, "live": value, "train": before, "change": change, "degraded": worse}
        )
    return {
        "rows": rows,
        "unmatched": unmatched,
        "metrics": rows_out,
        "bound": degradation,
        "degraded": degraded,
    }

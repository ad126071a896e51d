"""Metrics per task, computed from class indices and predicted probabilities/values.

Each metric is named as in ``eval.gates`` (see ``METRICS_BY_TASK``) and knows its
direction, which change gates need. A metric that cannot be computed on the given rows
(AUC with one class present) is absent from the result, not NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# the two metrics a commit message or a one-line summary shows, per task
HEADLINE = {
    "binary": ("auc", "log_loss"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("rmse", "r2"),
}


def headline(task: str, metrics: dict[str, float]) -> str:
    """``auc=0.8185, log_loss=0.4783``: the task's headline metrics that are present."""
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in HEADLINE[task] if k in metrics)


HIGHER_IS_BETTER = {
    "auc": True,
    "log_loss": False,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "brier": False,
    "macro_f1": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}


def compute_metrics(task: str, y_true: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    """``pred``: probabilities [n, n_classes] for classification, values [n] for regression."""
    import numpy as np
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    out: dict[str, Any] = {}
    if len(y_true) == 0:
        return out
    if task == "regression":
        pred = np.asarray(pred, dtype=np.float64).reshape(-1)
        out["rmse"] = float(np.sqrt(m.mean_squared_error(y_true, pred)))
        out["mae"] = float(m.mean_absolute_error(y_true, pred))
        if len(y_true) > 1 and np.var(y_true) > 0:
            out["r2"] = float(m.r2_score(y_true, pred))
        return _rounded(out)
    probs = np.asarray(pred, dtype=np.float64)
    n_classes = probs.shape[1]
    labels = list(range(n_classes))
    predicted = probs.argmax(axis=1)
    clipped = np.clip(probs, 1e-15, 1 - 1e-15)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out["log_loss"] = float(m.log_loss(y_true, clipped, labels=labels))
    out["accuracy"] = float(m.accuracy_score(y_true, predicted))
    if task == "binary":
        positive = probs[:, 1]
        if len(np.unique(y_true)) == 2:
            out["auc"] = float(m.roc_auc_score(y_true, positive))
        out["precision"] = float(m.precision_score(y_true, predicted, zero_division=0))
        out["recall"] = float(m.recall_score(y_true, predicted, zero_division=0))
        out["f1"] = float(m.f1_score(y_true, predicted, zero_division=0))
        out["brier"] = float(m.brier_score_loss(y_true, positive))
    else:
        out["macro_f1"] = float(
            m.f1_score(y_true, predicted, average="macro", labels=labels, zero_division=0)
        )
    return _rounded(out)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    """Six significant decimals: stable JSON, no false precision."""
    return {k: round(v, 6) for k, v in sorted(values.items())}

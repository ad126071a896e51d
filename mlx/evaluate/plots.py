"""Plots as PNG (for people) and as DVC plots data (for `dvc plots show/diff`).

Curves are thinned to at most ``MAX_POINTS`` points so the committed data stays small.
PNGs are rendered with matplotlib's Agg backend and carry no timestamps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from mlx.metadata import Label

MAX_POINTS = 200


def _thin(*arrays: np.ndarray) -> list[np.ndarray]:
    n = len(arrays[0])
    if n <= MAX_POINTS:
        return list(arrays)
    idx = np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
    return [a[idx] for a in arrays]


def _records(**columns: np.ndarray) -> list[dict[str, Any]]:
    keys = list(columns)
    return [
        {
            k: (
                round(float(v), 6)
                if isinstance(v, float | np.floating)
                else (v.item() if hasattr(v, "item") else v)
            )
            for k, v in zip(keys, row, strict=True)
        }
        for row in zip(*columns.values(), strict=True)
    ]


def make_plots(
    task: str,
    y_test: ArrayLike,
    pred: ArrayLike,
    classes: list[Label],
    importance: dict[str, float],
    out: Path,
) -> dict[str, Any]:
    """Write PNG + JSON plot files under ``out``; returns {name: {"png", "data", "dvc"}}."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn import metrics as m

    out.mkdir(parents=True, exist_ok=True)
    y_test = np.asarray(y_test)
    made: dict[str, Any] = {}

    def save(name: str, fig: Figure, data: list[dict[str, Any]], dvc: dict[str, Any]) -> None:
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=90, metadata={"Software": None})
        plt.close(fig)
        (out / f"{name}.json").write_text(
            json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8"
        )
        made[name] = {"png": f"{name}.png", "data": f"{name}.json", "dvc": dvc}

    if task == "binary" and len(np.unique(y_test)) == 2:
        score = np.asarray(pred)[:, 1]
        fpr, tpr, _ = m.roc_curve(y_test, score)
        fpr, tpr = _thin(fpr, tpr)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(fpr, tpr, label=f"AUC {m.roc_auc_score(y_test, score):.3f}")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        ax.legend(loc="lower right")
        save("roc", fig, _records(fpr=fpr, tpr=tpr), {"x": "fpr", "y": "tpr", "template": "simple"})

        precision, recall, _ = m.precision_recall_curve(y_test, score)
        recall, precision = _thin(recall[::-1], precision[::-1])
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(recall, precision)
        ax.set(xlabel="recall", ylabel="precision", title="Precision–recall", ylim=(0, 1.02))
        save(
            "pr",
            fig,
            _records(recall=recall, precision=precision),
            {"x": "recall", "y": "precision", "template": "simple"},
        )

        bins = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(score, bins) - 1, 0, 9)
        pred_mean, obs = [], []
        for b in range(10):
            mask = which == b
            if mask.any():
                pred_mean.append(float(score[mask].mean()))
                obs.append(float(y_test[mask].mean()))
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(pred_mean, obs, "o-")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        ax.set(
            xlabel="mean predicted probability", ylabel="observed frequency", title="Calibration"
        )
        save(
            "calibration",
            fig,
            _records(predicted=np.array(pred_mean), observed=np.array(obs)),
            {"x": "predicted", "y": "observed", "template": "linear"},
        )

    if task in ("binary", "multiclass"):
        predicted = np.asarray(pred).argmax(axis=1)
        names = [str(c) for c in classes]
        cm = m.confusion_matrix(y_test, predicted, labels=list(range(len(names))))
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
        ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix")
        rows = [
            {"actual": names[a], "predicted": names[p]}
            for a, p in zip(y_test, predicted, strict=True)
        ]
        save("confusion", fig, rows, {"x": "actual", "y": "predicted", "template": "confusion"})

    if task == "regression":
        values = np.asarray(pred).reshape(-1)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(y_test, values, s=4, alpha=0.5)
        lo, hi = float(min(y_test.min(), values.min())), float(max(y_test.max(), values.max()))
        ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=0.8)
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
        actual, predicted_v = _thin(np.asarray(y_test, dtype=float), values)
        save(
            "predicted_vs_actual",
            fig,
            _records(actual=actual, predicted=predicted_v),
            {"x": "actual", "y": "predicted", "template": "scatter"},
        )

    ranked = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(ranked) + 1.2))
    ax.barh([k for k, _ in ranked], [v for _, v in ranked])
    ax.set(xlabel="share of total gain", title="Feature importance")
    save(
        "importance",
        fig,
        [{"feature": k, "gain": v} for k, v in reversed(ranked)],
        {"x": "gain", "y": "feature", "template": "bar_horizontal"},
    )
    return made

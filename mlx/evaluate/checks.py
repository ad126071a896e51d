"""Cheap model checks from the ML Test Score: trivial baseline and perturbation.

- Trivial baseline: the model must beat the class prior (log loss) for
  classification, or the training mean (RMSE) for regression, on the test rows.
- Perturbation: Gaussian noise of ``noise × std`` on every numeric input must move
  predictions by at most ``max_mean_change`` on average (probabilities; for regression,
  relative to the spread of the predictions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlx.config.sections import PerturbationCheck

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# ONNX inputs by name -> predictions (probabilities [n, k] or values [n] / [n, 1])
ScoreFn = Callable[[dict[str, np.ndarray]], np.ndarray]


def trivial_baseline(
    task: str,
    y_train: np.ndarray,
    y_test: np.ndarray,
    pred: ArrayLike,
    metrics: dict[str, float],
) -> dict[str, Any]:
    from mlx.metrics import compute_metrics

    if task == "regression":
        constant = np.full(len(y_test), float(np.mean(y_train)))
        trivial = compute_metrics(task, y_test, constant)["rmse"]
        value, metric = metrics.get("rmse"), "rmse"
    else:
        n_classes = np.asarray(pred).shape[1]
        prior = np.bincount(np.asarray(y_train), minlength=n_classes) / len(y_train)
        trivial = compute_metrics(task, y_test, np.tile(prior, (len(y_test), 1)))["log_loss"]
        value, metric = metrics.get("log_loss"), "log_loss"
    passed = value is not None and value < trivial
    return {
        "passed": bool(passed),
        "metric": metric,
        "model": value,
        "trivial": round(float(trivial), 6),
        "reason": f"model {metric} {value:.4g} vs trivial {trivial:.4g}"
        if value is not None
        else f"no {metric}",
    }


def perturbation(
    score_fn: ScoreFn,
    inputs: dict[str, np.ndarray],
    numeric: list[str],
    task: str,
    spec: PerturbationCheck,
    seed: int | None,  # the model's recorded seed (None: a fresh one)
) -> dict[str, Any]:
    """``score_fn(inputs) -> predictions`` (probabilities [n, k] or values [n, 1])."""
    rng = np.random.default_rng(seed)
    base = np.asarray(score_fn(inputs), dtype=np.float64)
    noisy = dict(inputs)
    for name in numeric:
        col = inputs[name]
        std = float(np.nanstd(col)) or 1.0
        noisy[name] = (col + rng.normal(0.0, spec.noise * std, size=col.shape)).astype(col.dtype)
    moved = np.asarray(score_fn(noisy), dtype=np.float64)
    delta = np.abs(moved - base).max(axis=1) if base.ndim == 2 else np.abs(moved - base)
    if task == "regression":
        delta = delta / (float(np.std(base)) or 1.0)
    mean_change = float(np.nanmean(delta)) if delta.size else 0.0
    return {
        "passed": bool(mean_change <= spec.max_mean_change),
        "noise": spec.noise,
        "mean_change": round(mean_change, 6),
        "max_change": round(float(np.nanmax(delta)) if delta.size else 0.0, 6),
        "allowed": spec.max_mean_change,
        "reason": f"mean |Δ| {mean_change:.4g} with {spec.noise:g}σ noise; allowed {spec.max_mean_change:g}",
    }

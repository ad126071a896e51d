"""The train-stage pieces ``mlx tune`` runs once per trial, without any search library.

:func:`prepare` reads, validates and splits the training data exactly as the train stage
does, then holds the validation rows (``model.validation_size`` of the training split,
the same carve-out early stopping uses) out of the fit: trials are scored there, never
on the test split that ``mlx eval`` judges. :func:`fit_trial` trains one candidate with
the train stage's effective params and calls ``on_round`` with LightGBM's validation
metric after every boosting round (the search prunes there). :func:`check_space` asks
LightGBM itself about every bound and choice of the search space before any trial.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.model import MlxConfig
from mlx.errors import ConfigError, ConfigIssue, DataValidationFailed
from mlx.metrics import HIGHER_IS_BETTER

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_METRIC = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}

# LightGBM's per-round metric that tracks each mlx metric (for pruning): the same
# quantity where LightGBM has one, else the task's log loss / l2
_ROUND_METRIC = {
    "binary": {
        "auc": "auc",
        "log_loss": "binary_logloss",
        "accuracy": "binary_error",
        "brier": "l2",
    },
    "multiclass": {"accuracy": "multi_error", "log_loss": "multi_logloss"},
    "regression": {"rmse": "rmse", "mae": "l1", "r2": "l2"},
}
_ROUND_DEFAULT = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}

# params that change how LightGBM bins the data: a space holding one rebuilds the
# Dataset per trial, otherwise each worker thread bins once and reuses it
_DATASET_PARAMS = {
    "bin_construct_sample_cnt",
    "data_random_seed",
    "enable_bundle",
    "feature_pre_filter",
    "forcedbins_filename",
    "is_enable_sparse",
    "linear_tree",
    "max_bin",
    "max_bin_by_feature",
    "min_data_in_bin",
    "use_missing",
    "zero_as_missing",
    "min_data_in_leaf",
    "min_sum_hessian_in_leaf",
    "categorical_feature",
}
_RESERVED = {
    "objective",
    "num_class",
    "seed",
    "random_state",
    "categorical_feature",
    "metric",
    "num_threads",
    "verbosity",
    "deterministic",
}


def default_metric(task: str) -> str:
    return DEFAULT_METRIC[task]


def higher_is_better(metric: str) -> bool:
    return HIGHER_IS_BETTER[metric]


def round_metric(task: str, metric: str) -> str:
    """The LightGBM metric reported per round while a trial trains."""
    return _ROUND_METRIC[task].get(metric, _ROUND_DEFAULT[task])


@dataclass
class TuneData:
    """The rows every trial fits on and is scored on, prepared once per study."""

    task: str
    x_fit: pd.DataFrame
    y_fit: np.ndarray
    x_valid: pd.DataFrame
    y_valid: np.ndarray
    categorical: list[str]
    classes: list | None
    rows: int
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a dask runner ships it to its workers once per study); the cached
        Datasets stay with the threads that built them."""
        state = dict(self.__dict__)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()


def prepare(cfg: MlxConfig, data_path: Path, schema_text: str | None) -> TuneData:
    from mlx.data.io import read_table
    from mlx.data.schema import string_columns
    from mlx.data.validate import validate_frame
    from mlx.train import features as feats
    from mlx.train import split

    frame = read_table(data_path, string_columns(cfg.data))
    report, _ = validate_frame(frame, cfg, schema_text, str(data_path))
    if not report.ok:
        raise DataValidationFailed(
            f"{data_path} failed validation ({len(report.failures)} checks): "
            f"{report.summary()}; no trial was run",
            hint="see `mlx validate` for the table",
            details=report.to_dict(),
        )
    features = feats.describe_features(frame, cfg.data, cfg.model)
    parts = split.split_frame(frame, cfg)  # the test split is never looked at
    task, target = cfg.model.task, cfg.data.target
    _, classes = split.encode_target(parts.train[target], task)
    fit_rows, valid_rows = split.validation_split(parts.train, cfg)
    y_fit, _ = split.encode_target(fit_rows[target], task, classes)
    y_valid, _ = split.encode_target(valid_rows[target], task, classes)
    return TuneData(
        task=task,
        x_fit=feats.to_lightgbm_frame(fit_rows, features),
        y_fit=y_fit,
        x_valid=feats.to_lightgbm_frame(valid_rows, features),
        y_valid=y_valid,
        categorical=feats.lightgbm_categorical(features),
        classes=classes,
        rows=len(frame),
    )


@dataclass
class TrialFit:
    value: float
    metrics: dict[str, float]
    rounds: int  # boosting rounds actually run
    best_iteration: int | None


def trial_params(cfg: MlxConfig, sampled: dict[str, Any], n_classes: int | None):
    """LightGBM params for one trial: the config's, with the sampled ones on top, as the
    train stage would run them; and the number of rounds."""
    from mlx.train.fit import effective_params

    return effective_params(
        {**cfg.model.params, **sampled}, cfg.model.task, cfg.model.seed, n_classes
    )


def fit_trial(
    data: TuneData,
    cfg: MlxConfig,
    sampled: dict[str, Any],
    metric: str,
    threads: int,
    on_round: Callable[[int, float], None] | None = None,
    reuse_datasets: bool = True,
) -> TrialFit:
    """Train one candidate; ``on_round(iteration, value)`` gets LightGBM's validation
    metric (:func:`round_metric`, oriented so that higher is better when ``metric`` is)
    and may raise to stop the fit (pruning, Ctrl-C)."""
    import numpy as np

    from mlx.metrics import compute_metrics
    from mlx.train.fit import lgb_datasets, train_booster

    params, rounds = trial_params(cfg, sampled, len(data.classes or []))
    lgb_metric = round_metric(data.task, metric)
    params = params | {"metric": lgb_metric, "num_threads": threads}
    flip = _lgb_higher_better(lgb_metric) != higher_is_better(metric)
    callbacks = []
    if on_round is not None:

        def _report(env: Any) -> None:
            for _, name, value, _ in env.evaluation_result_list:
                if name == lgb_metric:
                    on_round(env.iteration, -value if flip else value)
                    return

        callbacks.append(_report)
    if reuse_datasets:
        datasets = getattr(data._local, "datasets", None)
        if datasets is None:
            datasets = lgb_datasets(
                data.x_fit, data.y_fit, data.categorical, (data.x_valid, data.y_valid)
            )
            data._local.datasets = datasets
    else:
        datasets = lgb_datasets(
            data.x_fit, data.y_fit, data.categorical, (data.x_valid, data.y_valid)
        )
    booster = train_booster(
        data.x_fit,
        data.y_fit,
        params,
        rounds,
        data.categorical,
        early_stopping_rounds=cfg.model.early_stopping_rounds,
        callbacks=callbacks,
        datasets=datasets,
    )
    best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else None
    pred: Any = booster.predict(data.x_valid, num_iteration=best or -1)
    if data.task == "binary":
        pred = np.column_stack([1 - pred, pred])
    metrics = compute_metrics(data.task, data.y_valid, pred)
    value = metrics.get(metric, math.nan)
    return TrialFit(float(value), metrics, booster.current_iteration(), best)


def reuses_datasets(space_keys: list[str]) -> bool:
    """Whether trials can share binned Datasets (no space key changes the binning)."""
    from mlx.train.fit import known_params

    known = known_params()
    return not any(known.get(k, k) in _DATASET_PARAMS for k in space_keys)


def _lgb_higher_better(name: str) -> bool:
    return name in ("auc", "average_precision", "ndcg", "map")


def check_space(
    cfg: MlxConfig, probes: dict[str, list[Any]], config_file: str, lines: dict[str, int]
) -> None:
    """Refuse a space LightGBM would refuse, before any trial: unknown or reserved names
    (with the nearest LightGBM name), and every bound and choice tried on a tiny fit."""
    import difflib

    from mlx.train.fit import known_params

    known = known_params()
    issues = []
    for key in probes:
        where = f"tune.space.{key}"
        canonical = known.get(key)
        if canonical is None:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
            issues.append(
                ConfigIssue(
                    config_file,
                    where,
                    "not a LightGBM parameter",
                    lines.get(where),
                    suggestion=known[close[0]] if close else None,
                )
            )
        elif key in _RESERVED or canonical in _RESERVED:
            issues.append(
                ConfigIssue(
                    config_file,
                    where,
                    f"{key} is set by mlx (model.task, model.seed, the schema), not searched",
                    lines.get(where),
                )
            )
    if not issues:
        for key, values in probes.items():
            for value in values:
                problem = _probe(cfg, {key: value})
                if problem:
                    where = f"tune.space.{key}"
                    issues.append(
                        ConfigIssue(
                            config_file,
                            where,
                            f"LightGBM refuses {key}={value!r}: {problem}",
                            lines.get(where),
                        )
                    )
                    break
    if issues:
        raise ConfigError("tune.space has values LightGBM rejects; no trial was run", issues)


def _probe(cfg: MlxConfig, sampled: dict[str, Any]) -> str | None:
    """LightGBM's complaint about these params on a 40-row fit of the task, or None."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    n_classes = 3 if cfg.model.task == "multiclass" else None
    y = (np.arange(40) % (n_classes or 2)).astype(float)
    if cfg.model.task == "regression":
        y = rng.normal(size=40)
    params, _ = trial_params(cfg, sampled, n_classes)
    params = params | {"num_threads": 1, "verbosity": -1}
    try:
        lgb.train(params, lgb.Dataset(x, y, params={"verbosity": -1}), num_boost_round=1)
    except lgb.basic.LightGBMError as exc:
        return str(exc).strip().splitlines()[-1]
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None

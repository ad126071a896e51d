"""LightGBM training with the config's params and seed, deterministically.

mlx sets the objective from the task, the seed everywhere LightGBM takes one, and
``deterministic``/``force_col_wise`` so the same inputs give the same trees (and so
the same ONNX bytes). Unknown parameter names are refused up front instead of
LightGBM's warning-and-ignore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlx.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

DEFAULT_ROUNDS = 100
OBJECTIVES = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
ROUND_ALIASES = (
    "num_iterations",
    "num_iteration",
    "n_iter",
    "num_tree",
    "num_trees",
    "num_round",
    "num_rounds",
    "nrounds",
    "num_boost_round",
    "n_estimators",
    "max_iter",
)


def known_params() -> dict[str, str]:
    """Every LightGBM parameter name and alias → its canonical name (from LightGBM itself)."""
    from lightgbm.basic import _ConfigAliases

    aliases = _ConfigAliases._get_all_param_aliases()
    return {alias: name for name, names in aliases.items() for alias in names}


def check_params(params: dict[str, Any], config_file: str = "mlops.yaml") -> None:
    import difflib

    known = known_params()
    issues = []
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
            issues.append(
                ConfigIssue(
                    config_file,
                    f"model.params.{key}",
                    "not a LightGBM parameter",
                    suggestion=known[close[0]] if close else None,
                )
            )
    if issues:
        raise ConfigError("model.params has unknown LightGBM parameters", issues)


def effective_params(
    params: dict[str, Any], task: str, seed: int, n_classes: int | None
) -> tuple[dict, int]:
    """LightGBM params as trained (user's + mlx's) and the number of boosting rounds."""
    user = dict(params)
    rounds = DEFAULT_ROUNDS
    for alias in ROUND_ALIASES:
        if alias in user:
            rounds = int(user.pop(alias))
    out: dict[str, Any] = {
        "objective": OBJECTIVES[task],
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
        "num_threads": 0,
    }
    if task == "multiclass":
        out["num_class"] = n_classes
    out.update(user)
    return out, rounds


def lgb_datasets(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    categorical: list[str],
    valid: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> tuple[lgb.Dataset, list[lgb.Dataset]]:
    """The LightGBM training set and (when given) the validation set binned like it."""
    import lightgbm as lgb

    train_set = lgb.Dataset(
        x_train, y_train, categorical_feature=categorical or "auto", free_raw_data=False
    )
    valid_sets = []
    if valid is not None:
        valid_sets = [
            lgb.Dataset(
                valid[0], valid[1], reference=train_set, categorical_feature=categorical or "auto"
            )
        ]
    return train_set, valid_sets


def train_booster(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    categorical: list[str],
    valid: tuple[pd.DataFrame, np.ndarray] | None = None,
    early_stopping_rounds: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    callbacks: list[Callable[..., Any]] | None = None,
    datasets: tuple[lgb.Dataset, list[lgb.Dataset]] | None = None,
) -> lgb.Booster:
    """Fit LightGBM; ``callbacks`` run after each round (``mlx tune`` reports and prunes
    there), ``datasets`` reuses sets built by :func:`lgb_datasets` (same rows)."""
    import lightgbm as lgb

    train_set, valid_sets = datasets or lgb_datasets(x_train, y_train, categorical, valid)
    callbacks = list(callbacks or [])
    if valid_sets and early_stopping_rounds:
        callbacks.append(lgb.early_stopping(early_stopping_rounds, verbose=False))
    if progress is not None:
        progress(0, rounds)

        def _report(env: lgb.callback.CallbackEnv) -> None:
            progress(env.iteration + 1, rounds)

        callbacks.append(_report)
    try:
        return lgb.train(
            params, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
        )
    except lgb.basic.LightGBMError as exc:
        raise ConfigError(f"LightGBM refused the parameters: {exc}") from None


def final_booster(booster: lgb.Booster) -> lgb.Booster:
    """The booster cut at its best iteration (early stopping), re-read from text so that
    the native file and the ONNX export see exactly the same trees."""
    import lightgbm as lgb

    best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else -1
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def gain_importance(booster: lgb.Booster, names: list[str]) -> dict[str, float]:
    """Gain share per feature, keyed by our column names (LightGBM rewrites some names)."""
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    return {name: round(float(g) / total, 6) for name, g in zip(names, gains, strict=True)}

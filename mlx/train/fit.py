"""LightGBM training with the config's params and seed, deterministically.

mlx sets the objective from the task, the seed everywhere LightGBM takes one, and
``deterministic``/``force_col_wise`` so the same inputs give the same trees (and so
the same ONNX bytes). Unknown parameter names are refused up front instead of
LightGBM's warning-and-ignore.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
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


def check_params(
    params: dict[str, Any], config_file: str = "mlops.yaml", overrides: dict[str, Any] | None = None
) -> None:
    """Refuse unknown LightGBM parameter names and values LightGBM cannot parse.

    An issue about a key set with ``--set`` names that override instead of the file."""
    import difflib

    from mlx.config.overrides import origin

    def source(key: str) -> str:
        dotted = f"model.params.{key}"
        if overrides and dotted in overrides:
            return origin(dotted, overrides[dotted])
        return config_file

    known = known_params()
    issues = []
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
            issues.append(
                ConfigIssue(
                    source(key),
                    f"model.params.{key}",
                    "not a LightGBM parameter",
                    suggestion=known[close[0]] if close else None,
                )
            )
    if issues:
        raise ConfigError("model.params has unknown LightGBM parameters", issues)
    for key, value in params.items():
        problem = _value_problem(key, value)
        if problem is None and known[key] == "linear_tree" and value not in (False, 0, "false"):
            problem = "linear trees cannot be exported to ONNX exactly; remove linear_tree"
        if problem:
            issues.append(ConfigIssue(source(key), f"model.params.{key}", problem))
    if issues:
        raise ConfigError("model.params has values LightGBM rejects", issues)


def _value_problem(key: str, value: Any) -> str | None:
    """LightGBM's own verdict on one parameter value, from its config parser.

    The C++ side parses every value when a Dataset is made, so a one-row Dataset
    with only this parameter is the cheapest exact check (about a millisecond)."""
    import lightgbm as lgb
    import numpy as np

    if key in ROUND_ALIASES:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"expected a positive integer number of rounds (got {value!r})"
        return None
    if isinstance(value, dict):
        return "expected a scalar or a list (got a mapping)"
    try:
        with _native_stderr_silenced():
            data = lgb.Dataset(np.zeros((2, 1)), np.zeros(2), params={key: value, "verbosity": -1})
            data.construct()
    except lgb.basic.LightGBMError as exc:
        return _plain(str(exc), value)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """LightGBM's C++ ``Log::Fatal`` writes to file descriptor 2 before it throws; the
    exception already carries the message, so the probe keeps fd 2 quiet."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_CHECK = re.compile(r"Check failed: \((\w+)\) (\S+) \(([^)]*)\)")


def _plain(message: str, value: Any) -> str | None:
    """LightGBM's parser message without its C++ source location; None when the
    failure is about the probe's tiny dataset rather than the value itself."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    check = _CHECK.search(first)
    if check:
        return f"must be {check.group(2)} {check.group(3)} (got {value!r})"
    if first.startswith("Unknown token"):
        return f"not a number (got {value!r})"
    if "should be of type" in first or first.startswith("Unknown "):
        return first
    return None


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

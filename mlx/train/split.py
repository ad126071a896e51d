"""Deterministic train/test split (and the early-stopping validation carve-out).

The same config and data always give the same rows on each side, so ``mlx eval`` can
rebuild the test split without storing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlx.config.model import MlxConfig
from mlx.errors import StageFailed

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, Any]


def encode_target(series: pd.Series, task: str, classes: list | None = None):
    """Target as LightGBM wants it, and the class list (index → original label)."""
    import numpy as np

    if task == "regression":
        return series.to_numpy(dtype=np.float64), None
    if classes is None:
        classes = sorted(series.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in series.unique() if v not in lookup})
    if unknown:
        raise StageFailed(
            f"test rows have target values not seen in training: {', '.join(unknown[:5])}"
        )
    return series.map(lookup).to_numpy(dtype=np.int32), [_plain(c) for c in classes]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def split_frame(
    frame: pd.DataFrame, cfg: MlxConfig, test_frame: pd.DataFrame | None = None
) -> Split:
    seed = cfg.split.seed if cfg.split.seed is not None else cfg.model.seed
    info: dict[str, Any]
    if test_frame is not None:
        info = {
            "test_file": cfg.data.test,
            "seed": seed,
            "train_rows": len(frame),
            "test_rows": len(test_frame),
        }
        return Split(frame, test_frame, info)
    train, test = _split(frame, cfg.data.target, cfg.split.test_size, seed, _stratify(cfg))
    info = {
        "test_size": cfg.split.test_size,
        "stratify": _stratify(cfg),
        "seed": seed,
        "train_rows": len(train),
        "test_rows": len(test),
    }
    return Split(train, test, info)


def validation_split(frame: pd.DataFrame, cfg: MlxConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows held out of the training split for early stopping."""
    seed = cfg.model.seed + 1
    return _split(frame, cfg.data.target, cfg.model.validation_size, seed, _stratify(cfg))


def _stratify(cfg: MlxConfig) -> bool:
    return cfg.split.stratify and cfg.model.task != "regression"


def _split(frame: pd.DataFrame, target: str, size: float, seed: int, stratify: bool):
    from sklearn.model_selection import train_test_split

    labels = frame[target] if stratify else None
    if stratify:
        counts = frame[target].value_counts()
        rare = counts[counts < 2]
        if len(rare):
            raise StageFailed(
                f"class {rare.index[0]!r} of {target!r} has {int(rare.iloc[0])} row(s); "
                "a stratified split needs at least 2 per class",
                hint="add rows for that class, merge it into another, or set split.stratify: false",
            )
    import numpy as np

    try:  # split positions, then take each part once, in file order
        train, test = train_test_split(
            np.arange(len(frame)), test_size=size, random_state=seed, stratify=labels, shuffle=True
        )
    except ValueError as exc:
        raise StageFailed(f"cannot split the data: {exc}") from None
    train, test = frame.iloc[np.sort(train)], frame.iloc[np.sort(test)]
    if not frame.index.is_monotonic_increasing:
        train, test = train.sort_index(), test.sort_index()
    return train, test

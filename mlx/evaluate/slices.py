"""Metrics per slice: the rows sharing a value of a configured column.

Categorical columns slice by value; numeric columns with many values by quartile.
Slices with fewer than ``min_rows`` rows are listed with their size but not scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlx.metrics import compute_metrics

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

MAX_VALUES = 20


def slice_metrics(
    test_frame: pd.DataFrame,
    columns: list[str],
    task: str,
    y_test: ArrayLike,
    pred: ArrayLike,
    min_rows: int,
) -> dict[str, Any]:
    import pandas as pd

    from mlx.data.text import as_text

    out: dict[str, Any] = {}
    for column in columns:
        if column not in test_frame.columns:
            out[column] = {"error": f"column {column!r} not in the data"}
            continue
        series = test_frame[column].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(series) and series.nunique() > MAX_VALUES:
            keys = pd.qcut(series, 4, duplicates="drop").astype(str)
        else:
            keys = as_text(series).fillna("<missing>")  # 3.0 in a float column is "3"
        groups: dict[str, Any] = {}
        for key in sorted(keys.unique()):
            mask = (keys == key).to_numpy()
            rows = int(mask.sum())
            entry: dict[str, Any] = {"rows": rows}
            if rows >= min_rows:
                entry.update(
                    compute_metrics(task, np.asarray(y_test)[mask], np.asarray(pred)[mask])
                )
            groups[str(key)] = entry
        out[column] = groups
    return out

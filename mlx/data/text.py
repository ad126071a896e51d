"""Category values as text: the one rule training, scoring and monitoring share.

A categorical value is its text, with two conventions every reader of a file follows
(the served graph, ``mlx serve --batch`` and ``mlx monitor`` read files with arrow, which
gives the same text):

- a whole float is the integer it holds: ``10043.0`` read from a float column (an id or
  code column with missing values is float in pandas) is the category ``"10043"``, as the
  same value is in a CSV file read as text and as a client sends it (``10043``);
- to the model an empty string is a missing value, as an empty CSV field is and as the
  graph treats ``""`` (:func:`category_text`); validation sees the data as read, where
  ``""`` is a value a schema may list (:func:`as_text`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# beyond 2**53 a float64 no longer holds every integer: such values keep their float text
_EXACT_INT = 2.0**53


def as_text(column: pd.Series) -> pd.Series:
    """``column`` as ``str`` values, NaN where null; in a float column each whole value is
    its integer's text (``2.0`` → ``"2"``, ``2.5`` stays), value by value as arrow writes
    it. An empty string stays: this is the data as read, for validation."""
    import numpy as np
    import pandas as pd

    text = column.astype("str")
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        whole = (values == np.round(values)) & (np.abs(values) < _EXACT_INT)  # NaN: False
        if whole.any():
            ints = np.where(whole, values, 0).astype(np.int64).astype("str")
            text = text.mask(whole, pd.Series(ints, index=column.index))
    return text.where(column.notna())


def category_text(column: pd.Series) -> pd.Series:
    """``column`` as the model sees a category: :func:`as_text`, and NaN where empty."""
    text = as_text(column)
    return text.where(text != "")

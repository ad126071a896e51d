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
    """``column`` as ``str`` values, whole floats as integers, NaN where null (an empty
    string stays: this is the data as read, for validation)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna()
        if len(present) and bool((present == present.round()).all()):
            if float(present.abs().max()) < _EXACT_INT:
                column = column.astype("Int64")
    return column.astype("str").where(column.notna())


def category_text(column: pd.Series) -> pd.Series:
    """``column`` as the model sees a category: :func:`as_text`, and NaN where empty."""
    text = as_text(column)
    return text.where(text != "")

"""Category values as text: the one rule training, scoring and monitoring share.

A categorical value is its text, with two conventions every reader of a file follows
(the served graph, ``mlx serve --batch`` and ``mlx monitor`` read files with arrow, which
gives the same text):

- a whole float is the integer it holds: ``10043.0`` read from a float column (an id or
  code column with missing values is float in pandas) is the category ``"10043"``, as the
  same value is in a CSV file read as text and as a client sends it (``10043``);
- an empty string is a missing value, as an empty CSV field is and as the graph treats
  ``""``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# beyond 2**53 a float64 no longer holds every integer: such values keep their float text
_EXACT_INT = 2.0**53


def category_text(column: pd.Series) -> pd.Series:
    """``column`` as ``str`` values, NaN where missing (null, NaN or empty)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna()
        if len(present) and bool((present == present.round()).all()):
            if float(present.abs().max()) < _EXACT_INT:
                column = column.astype("Int64")
    text = column.astype("str")
    return text.where(column.notna() & (text != ""))

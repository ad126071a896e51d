"""Reading tabular files (CSV, Parquet) into pandas with the config's column types.

Categorical and string columns are read as strings so that codes like ``"001"`` keep
their leading zeros; everything else is left to the reader's inference and checked by
the schema afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlx.errors import DataNotAvailable, DataValidationFailed, UsageError

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED = (".csv", ".parquet", ".pq")


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise UsageError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def read_table(path: Path, string_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a whole CSV or Parquet file; ``string_columns`` are read as strings."""
    import pandas as pd

    from mlx.adapters.dvc import require_data

    require_data(path)
    fmt = file_format(path)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype={c: "str" for c in string_columns}, low_memory=False)
        else:
            frame = pd.read_parquet(path)
            for col in string_columns:
                if col in frame.columns and frame[col].dtype != "str":
                    frame[col] = frame[col].astype("str").where(frame[col].notna())
    except pd.errors.EmptyDataError:
        raise DataValidationFailed(f"{path} is empty") from None
    except (OSError, ValueError) as exc:
        raise DataNotAvailable(f"cannot read {path}: {exc}") from None
    if frame.empty:
        raise UsageError(
            f"{path} has no rows",
            hint="check the file; an empty table cannot be validated or trained on",
        )
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically (temp file + rename) as CSV or Parquet by extension."""
    from mlx.util.atomic import atomic_path

    fmt = file_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)

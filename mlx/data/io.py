"""Reading tabular files (CSV, Parquet) into pandas with the config's column types.

Categorical and string columns are read as strings so that codes like ``"001"`` keep
their leading zeros; everything else is left to the reader's inference and checked by
the schema afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlx.errors import BadDataFile, DataNotAvailable, MlxError, UsageError

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
    from mlx.data.text import as_text

    require_data(path)
    fmt = file_format(path)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype={c: "str" for c in string_columns}, low_memory=False)
        else:
            frame = pd.read_parquet(path)
            for col in string_columns:  # as text, the way a CSV file read as text gives it
                if col in frame.columns and frame[col].dtype != "str":
                    frame[col] = as_text(frame[col])
    except pd.errors.EmptyDataError:
        raise BadDataFile(f"{path} is empty: no header and no rows") from None
    except (OSError, ValueError) as exc:
        raise unreadable(path, exc) from None
    if frame.empty:
        raise BadDataFile(
            f"{path} has a header but no rows",
            hint="check the file; an empty table cannot be validated, trained on or scored",
        )
    return frame


def unreadable(path: Path, exc: BaseException) -> MlxError:
    """The error for a file a reader (pandas or pyarrow) could not read.

    An ``OSError`` with an errno (missing, permissions, I/O) is the environment's doing:
    exit 3. Anything else the reader raised is about the bytes: exit 1, saying what is
    wrong, e.g. where the first byte that is not UTF-8 sits.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return DataNotAvailable(f"cannot read {path}: {exc}")
    if file_format(path) == "csv" or isinstance(exc, UnicodeDecodeError):
        offset = first_non_utf8(path)
        if offset is not None:
            return BadDataFile(
                f"{path} is not UTF-8 text (first bad byte at offset {offset:,})",
                hint="save it as UTF-8 CSV, or as Parquet",
            )
        return BadDataFile(f"{path} is not a well-formed CSV file: {_first_line(exc)}")
    return BadDataFile(f"{path} is not a readable Parquet file: {_first_line(exc)}")


def first_non_utf8(path: Path, limit: int = 256 * 1024 * 1024) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence in the first ``limit`` bytes."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while offset < limit and (block := fh.read(1 << 20)):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                # the decoder's buffer holds at most 3 bytes of an unfinished sequence
                return max(offset + err.start - len(err.object) + len(block), 0)
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically (temp file + rename) as CSV or Parquet by extension."""
    from mlx.util.atomic import atomic_path

    fmt = file_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)

"""Reading current data: a CSV/Parquet file or a prediction-log folder, as pyarrow.

Only the columns monitoring needs are read (features, id, and the log columns
``_score``, ``_label``, ``_ts``, ``_request_id``, ``_version``); the file's full column
list is kept for the extra-column check. Categorical features are read as strings so
codes keep their leading zeros. Prediction logs follow docs/internals.md: Parquet files
``<dir>/<model>/<YYYY-MM-DD>/part-*.parquet``; every file below the folder is read, and
``since`` skips whole day folders before filtering rows on ``_ts``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.errors import BadDataFile, DataNotAvailable, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

LOG_COLUMNS = (
    "_score",
    "_label",
    "_ts",
    "_request_id",
    "_version",
    "_model",
    "_commit",
    "_score_ms",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class CurrentData:
    table: pa.Table
    source: str
    kind: str  # "file" or "logs"
    columns: list[str]  # every column the source has (before selection)
    types: dict[str, str] = field(default_factory=dict)  # column -> arrow type name
    files: int = 1
    since: datetime | None = None

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def describe(self) -> dict[str, Any]:
        """Source, size and (for logs) time range and model versions seen."""
        import pyarrow.compute as pc

        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "rows": self.rows,
            "files": self.files,
            "since": self.since.isoformat() if self.since else None,
            "from": None,
            "to": None,
            "versions": [],
        }
        if "_ts" in self.table.column_names and self.rows:
            bounds = pc.min_max(self.table["_ts"])
            for key, name in (("from", "min"), ("to", "max")):
                value = bounds[name].as_py()
                out[key] = value.isoformat() if value is not None else None
        if "_version" in self.table.column_names and self.rows:
            out["versions"] = sorted(
                v for v in pc.unique(self.table["_version"]).to_pylist() if v is not None
            )
        return out


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``24h``/``7d``/``30m``/``2w`` ago, or an ISO date/datetime (naive = UTC)."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: not a duration or an ISO date",
            hint="use e.g. 24h, 7d, 2w, 2026-01-31 or 2026-01-31T12:00:00Z",
        ) from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def read_current(
    path: Path,
    wanted: list[str],
    categorical: set[str],
    since: datetime | None = None,
) -> CurrentData:
    """Read the ``wanted`` columns (those that exist) from a file or a log folder."""
    if not path.exists():
        raise DataNotAvailable(
            f"current data {path} does not exist",
            hint="pass --current FILE|LOGDIR or set monitor.current in mlops.yaml",
        )
    if path.is_dir():
        data = _read_logs(path, wanted, categorical, since)
    else:
        data = _read_file(path, wanted, categorical)
        if since is not None:
            if "_ts" not in data.columns:
                raise UsageError(f"--since needs a `_ts` column; {path} has none")
            data.table = _filter_since(data.table, since)
            data.since = since
    return data


def _read_file(path: Path, wanted: list[str], categorical: set[str]) -> CurrentData:
    from mlx.adapters.dvc import require_data
    from mlx.data.io import file_format, unreadable

    require_data(path)
    fmt = file_format(path)
    try:
        if fmt == "csv":
            table, columns = _read_csv(path, wanted, categorical)
        else:
            table, columns = _read_parquet(path, wanted, categorical)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise unreadable(path, exc) from None
    if table.num_rows == 0:
        raise BadDataFile(f"{path} has no rows", hint="a monitoring window needs rows to compare")
    return CurrentData(table, str(path), "file", columns, _types(table))


def _read_parquet(
    path: Path, wanted: list[str], categorical: set[str]
) -> tuple[pa.Table, list[str]]:
    """Read the wanted columns; categorical ones as dictionaries (no string per row).

    ``ParquetFile.read`` rather than ``pq.read_table``: the latter goes through
    ``pyarrow.dataset``, which imports pandas (half a second) for nothing here.
    """
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as file:
        columns = file.schema_arrow.names
        present = [c for c in wanted if c in columns]
        dictionary = [c for c in present if c in categorical]
    with pq.ParquetFile(path, read_dictionary=dictionary) as file:
        return file.read(columns=present), columns


def _read_csv(path: Path, wanted: list[str], categorical: set[str]) -> tuple[pa.Table, list[str]]:
    import pyarrow as pa
    from pyarrow import csv

    with csv.open_csv(path) as reader:
        columns = reader.schema.names
    present = [c for c in wanted if c in columns]
    convert = csv.ConvertOptions(
        include_columns=present,
        column_types={c: pa.string() for c in present if c in categorical},
        strings_can_be_null=True,
    )
    return csv.read_csv(path, convert_options=convert), columns


def log_files(folder: Path, since: datetime | None = None) -> list[Path]:
    """Parquet files below ``folder``, skipping day folders that end before ``since``."""
    files = []
    first_day = since.astimezone(timezone.utc).date() if since else None
    for file in sorted(folder.rglob("*.parquet")):
        if file.name.startswith("."):
            continue  # a writer's temp file
        day = _day_of(file, folder) if first_day is not None else None
        if first_day is not None and day is not None and day < first_day:
            continue
        files.append(file)
    return files


def _day_of(file: Path, folder: Path) -> date | None:
    for part in file.relative_to(folder).parts[:-1]:
        if _DAY_FOLDER.match(part):
            try:
                return date.fromisoformat(part)
            except ValueError:
                return None
    return None


def _read_logs(
    folder: Path, wanted: list[str], categorical: set[str], since: datetime | None
) -> CurrentData:
    import pyarrow as pa

    files = log_files(folder, since)
    if not files:
        raise DataNotAvailable(
            f"no prediction logs (*.parquet) under {folder}"
            + (f" from {since.isoformat()} on" if since else ""),
            hint="serve.prediction_log.dir is where `mlx serve` writes them",
        )
    tables, columns = [], {}
    for file in files:
        try:
            table, names = _read_parquet(file, wanted, set())
        except (OSError, ValueError) as exc:
            from mlx.data.io import unreadable

            raise unreadable(file, exc) from None
        columns.update(dict.fromkeys(names))
        tables.append(_strings(table, categorical))
    table = pa.concat_tables(tables, promote_options="permissive")
    if since is not None and "_ts" in table.column_names:
        table = _filter_since(table, since)
    return CurrentData(table, str(folder), "logs", list(columns), _types(table), len(files), since)


def _strings(table: pa.Table, categorical: set[str]) -> pa.Table:
    """Categorical columns as strings, so files typed differently concatenate."""
    import pyarrow as pa

    for i, name in enumerate(table.column_names):
        if name in categorical and not pa.types.is_string(table.schema.field(i).type):
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table


def _filter_since(table: pa.Table, since: datetime) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = table["_ts"]
    if not pa.types.is_timestamp(ts.type):
        raise UsageError(f"`_ts` is {ts.type}, not a timestamp; cannot filter with --since")
    bound = pa.scalar(since.astimezone(timezone.utc), type=pa.timestamp("us", tz="UTC"))
    if ts.type.tz is None:  # naive timestamps are UTC by the log contract
        bound = pa.scalar(since.astimezone(timezone.utc).replace(tzinfo=None), pa.timestamp("us"))
    return table.filter(pc.greater_equal(ts, bound))


def _types(table: pa.Table) -> dict[str, str]:
    return {f.name: str(f.type) for f in table.schema}

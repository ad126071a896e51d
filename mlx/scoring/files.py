"""``mlx serve REF --batch INPUT --output OUTPUT``: score a file, streaming.

Memory stays bounded by ``chunk_rows`` whatever the file size: Parquet is read by row
batches, CSV by blocks re-cut to ``chunk_rows``; each chunk is scored and appended to
the output, written under a temporary name and renamed when complete.

CSV is first read fast: multi-threaded, numeric features parsed as float64 by Arrow.
If a value does not parse, or a line has the wrong number of fields, the file is read
again carefully (single-threaded, so Arrow knows line numbers, numeric columns as text
parsed value by value) to name every bad row; clean files never pay for that.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlx.errors import DataNotAvailable, DataValidationFailed, UsageError
from mlx.scoring.chunks import MAX_REPORTED, BadRow, bad_rows_error, score_chunk
from mlx.serve.model import CATEGORICAL, ServedModel

CSV_BLOCK = 4 << 20
Progress = Callable[[int, int], None]


class _Restart(Exception):
    """The fast CSV pass met something only the careful pass can report."""


@dataclass
class BatchResult:
    input: str
    output: str
    format: str
    rows_in: int = 0
    rows_out: int = 0
    bad_row_count: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    on_error: str = "fail"
    careful: bool = False
    seconds: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        doc["bad_rows"] = [b.to_dict() for b in self.bad_rows]
        doc["bad_rows_truncated"] = self.bad_row_count > len(self.bad_rows)
        doc["rows_per_second"] = round(self.rows_in / self.seconds) if self.seconds else None
        return doc


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".gz", ".bz2", ".zst", ".lz4"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise UsageError(
        f"{path}: unknown file type", hint="use a .csv (optionally .gz) or .parquet file"
    )


def check_request(input_path: Path, output_path: Path, on_error: str) -> tuple[str, str]:
    """The checks every batch scoring (here or on a cluster) makes before reading a row;
    returns the input and output file formats."""
    if on_error not in ("fail", "skip"):
        raise UsageError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    if not input_path.is_file():
        raise DataNotAvailable(f"input file not found: {input_path}")
    return file_format(input_path), file_format(output_path)


def score_file(
    model: ServedModel,
    input_path: Path,
    output_path: Path,
    *,
    chunk_rows: int = 65_536,
    on_error: str = "fail",
    allow_non_finite: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> BatchResult:
    from mlx.util.atomic import atomic_path

    fmt, out_fmt = check_request(input_path, output_path, on_error)
    started = time.perf_counter()
    result = BatchResult(str(input_path), str(output_path), fmt, on_error=on_error)
    result.model = {"name": model.name, "version": model.version, "md5": model.md5}
    with atomic_path(output_path) as tmp:
        try:
            _score(model, input_path, tmp, fmt, out_fmt, chunk_rows, result, allow_non_finite, progress, fast=True, workers=workers)  # fmt: skip
        except _Restart:
            result = BatchResult(str(input_path), str(output_path), fmt, on_error=on_error, careful=True, model=result.model)  # fmt: skip
            _score(model, input_path, tmp, fmt, out_fmt, chunk_rows, result, allow_non_finite, progress, fast=False, workers=workers)  # fmt: skip
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _score(
    model, src, dst, fmt, out_fmt, chunk_rows, result, allow_non_finite, progress, fast, workers=1
):
    chunks, lines, total = _read(model, src, fmt, chunk_rows, fast)
    chunks = _prefetch(chunks)  # read and decode the next chunk while this one is scored
    writer = None
    done = 0
    try:
        for table, est in chunks:
            n = table.num_rows
            numbers = np.arange(done, done + n)
            if lines is not None and lines.skipped:
                numbers = lines.original(numbers)
            chunk = score_chunk(
                model, table, row_numbers=numbers, allow_non_finite=allow_non_finite,
                workers=workers,
            )  # fmt: skip
            bad = chunk.bad + (lines.take_bad() if lines is not None else [])
            if bad:
                bad.sort(key=lambda b: b.row)
                result.bad_row_count += len(bad)
                room = MAX_REPORTED - len(result.bad_rows)
                result.bad_rows.extend(bad[: max(room, 0)])
                if result.on_error == "fail":
                    raise bad_rows_error(result.bad_rows, result.bad_row_count)
            if writer is None:
                writer = _writer(dst, out_fmt, chunk.table.schema)
            writer.write_table(
                chunk.table.cast(writer.schema) if out_fmt == "parquet" else chunk.table
            )
            done += n
            result.rows_in = done + (lines.count if lines is not None else 0)
            result.rows_out += chunk.table.num_rows
            if progress is not None:
                progress(done, max(est() if callable(est) else total, done))
        if lines is not None and lines.pending:  # malformed lines after the last chunk
            bad = lines.take_bad()
            result.bad_row_count += len(bad)
            result.bad_rows.extend(bad[: max(MAX_REPORTED - len(result.bad_rows), 0)])
            if result.on_error == "fail":
                raise bad_rows_error(result.bad_rows, result.bad_row_count)
        if writer is None:  # empty input: still write a valid, empty output
            empty = score_chunk(model, _empty_input(model), allow_non_finite=allow_non_finite)
            writer = _writer(dst, out_fmt, empty.table.schema)
    finally:
        if writer is not None:
            writer.close()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``items`` on a thread, ``depth`` items ahead (Arrow's readers release the
    GIL, so reading overlaps onnxruntime's work); exceptions reach the consumer."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(depth)
    done, stop = object(), threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Raised(exc))

    thread = threading.Thread(target=run, name="mlx-batch-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(5)


def _writer(path: Path, fmt: str, schema):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(str(path), schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(str(path), schema)


def _empty_input(model: ServedModel):
    import pyarrow as pa

    return pa.table(
        {
            f.name: pa.array([], type=pa.string() if f.kind == CATEGORICAL else pa.float64())
            for f in model.schema.features
        }
    )


# --- readers ---------------------------------------------------------------------------


class _Lines:
    """Malformed CSV lines met while reading carefully, mapped to data row numbers."""

    def __init__(self) -> None:
        self.skipped: list[int] = []  # data row numbers (0-based), sorted
        self.pending: list[BadRow] = []
        self.count = 0

    def handler(self, row) -> str:
        number = (row.number - 2) if row.number is not None else -1
        self.skipped.append(number)
        self.count += 1
        text = (row.text or "")[:80]
        self.pending.append(
            BadRow(
                number,
                None,
                text,
                f"expected {row.expected_columns} fields, got {row.actual_columns}",
            )
        )
        return "skip"

    def take_bad(self) -> list[BadRow]:
        out, self.pending = self.pending, []
        return out

    def original(self, delivered: np.ndarray) -> np.ndarray:
        """Input row numbers of delivered rows, given the rows skipped before them."""
        s = np.asarray(self.skipped)
        before = s - np.arange(len(s))  # delivered rows ahead of each skipped row
        return delivered + np.searchsorted(before, delivered, side="right")


def _read(model: ServedModel, path: Path, fmt: str, chunk_rows: int, fast: bool):
    names = _column_names(path, fmt)
    wanted = [n for n in model.schema.names if n in names]
    id_col = model.schema.id_column
    if id_col and id_col in names:
        wanted.append(id_col)
    from mlx.scoring.chunks import check_columns

    try:
        check_columns(model, names)
    except DataValidationFailed as exc:
        raise DataValidationFailed(f"{path}: {exc.message}", hint=exc.hint) from None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(str(path))
        total = pf.metadata.num_rows
        import pyarrow as pa

        batches = pf.iter_batches(batch_size=chunk_rows, columns=wanted)
        return ((pa.Table.from_batches([b]), total) for b in batches), None, total
    return _read_csv(model, path, wanted, chunk_rows, fast)


def _read_csv(model: ServedModel, path: Path, wanted: list[str], chunk_rows: int, fast: bool):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types: dict[str, Any] = {}
    for f in model.schema.features:
        types[f.name] = pa.string() if (f.kind == CATEGORICAL or not fast) else pa.float64()
    if not fast and model.schema.id_column in wanted:
        types[model.schema.id_column] = pa.string()
    lines = _Lines()

    def restart_on_bad_line(row) -> str:  # noqa: ARG001 - the careful pass will say which
        return "error"  # the reader raises ArrowInvalid, which restarts carefully

    raw = pa.OSFile(str(path))
    size = max(path.stat().st_size, 1)
    codec = pa.Codec.detect(str(path)) if path.suffix in (".gz", ".bz2", ".zst", ".lz4") else None
    stream = pa.CompressedInputStream(raw, codec.name) if codec else raw
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=fast, block_size=CSV_BLOCK),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=lines.handler if not fast else restart_on_bad_line,
                newlines_in_values=True,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, column_types=types, strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        if fast:
            raise _Restart from None
        raise DataValidationFailed(f"{path}: cannot read as CSV: {exc}") from None

    def estimate(done: list[int]) -> int:
        pos = raw.tell()
        return int(done[0] * size / pos) if pos and done[0] else 0

    def batches() -> Iterator:
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            if fast:
                raise _Restart from None
            raise DataValidationFailed(f"{path}: cannot read as CSV: {exc}") from None
        except _Restart:
            raise

    done = [0]

    def chunks():
        for table in _rechunk(batches(), chunk_rows, reader.schema):
            done[0] += table.num_rows
            yield table, (lambda: estimate(done))

    return chunks(), (lines if not fast else None), 0


def _rechunk(batches, n: int, schema) -> Iterator:
    import pyarrow as pa

    buf: list = []
    size = 0
    for batch in batches:
        buf.append(batch)
        size += batch.num_rows
        while size >= n:
            table = pa.Table.from_batches(buf, schema)
            yield table.slice(0, n)
            rest = table.slice(n)
            buf, size = rest.to_batches(), rest.num_rows
    if size:
        yield pa.Table.from_batches(buf, schema)


def _column_names(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(str(path)).names
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem
            raise DataValidationFailed(f"{path}: not a readable Parquet file: {exc}") from None
    import pyarrow as pa

    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 20).decode("utf-8", errors="replace")
    first = next(csv.reader(io.StringIO(head)), None)
    if not first:
        raise DataValidationFailed(f"{path}: empty CSV file (no header line)")
    return first

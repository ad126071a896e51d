"""Batch scoring on a Dask cluster: ``mlx serve REF --batch IN --output OUT --runner NAME``.

The workers read the input file themselves in partitions (every column as text, so
numbers are parsed by the same Arrow cast as the local careful path) and score each
partition with :func:`mlx.scoring.chunks.score_chunk`, the function local batch scoring
uses, in one onnxruntime session per worker process (cached by the model's md5; the
model bytes travel once to each worker). This machine collects the partitions in order,
numbers rows globally, applies the bad-row policy and writes the output file (atomically,
like a local run), so the output has the same columns and rows as a local run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.runners import DaskRunner as DaskSpec
from mlx.runners.dask_cluster import check_cluster, connect
from mlx.scoring.files import BatchResult

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from mlx.runners import Progress
    from mlx.serve.model import ServedModel

_MODELS: dict[str, ServedModel] = {}  # per worker process: md5 → model


def _model_on_worker(payload: dict[str, Any]) -> ServedModel:
    """The worker's scoring model (one onnxruntime session per process, single thread)."""
    md5 = payload["spec"]["md5"]
    if md5 not in _MODELS:
        import tempfile

        from mlx.serve.model import ServedModel

        folder = Path(tempfile.gettempdir()) / "mlx-dask-models"
        folder.mkdir(exist_ok=True)
        path = folder / f"{md5}.onnx"
        if not path.exists():
            tmp = path.with_suffix(f".{time.time_ns()}.tmp")
            tmp.write_bytes(payload["onnx"])
            tmp.replace(path)
        _MODELS[md5] = ServedModel.load(payload["spec"] | {"onnx_path": str(path)}, threads=1)
    return _MODELS[md5]


def _score_partition(
    frame: pd.DataFrame, payload: dict[str, Any], allow_non_finite: bool
) -> tuple[pa.Table, list[dict[str, Any]], int]:
    """(output table, bad rows as dicts, input rows) for one partition, rows from 0."""
    import pyarrow as pa

    from mlx.scoring.chunks import score_chunk

    model = _model_on_worker(payload)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    chunk = score_chunk(model, table, row_offset=0, allow_non_finite=allow_non_finite)
    return chunk.table, [b.to_dict() for b in chunk.bad], table.num_rows


@dataclass
class ClusterBatchResult(BatchResult):
    """What local batch scoring reports, plus where the partitions were scored."""

    careful: bool = True
    runner: dict[str, Any] = field(default_factory=dict)


def score_file_on_cluster(
    spec: DaskSpec,
    name: str,
    model_spec: Any,
    input_path: Path,
    output_path: Path,
    *,
    on_error: str = "fail",
    allow_non_finite: bool = False,
    progress: Progress | None = None,
) -> ClusterBatchResult:
    from mlx.scoring.files import check_request
    from mlx.util.atomic import atomic_path

    fmt, out_fmt = check_request(input_path, output_path, on_error)
    doc = (
        asdict(model_spec)
        if is_dataclass(model_spec) and not isinstance(model_spec, type)
        else dict(model_spec)
    )
    payload = {"spec": doc, "onnx": Path(doc["onnx_path"]).read_bytes()}
    empty = _empty_output(doc)  # loads the model here first: a bad model fails before the cluster
    started = time.perf_counter()
    result = ClusterBatchResult(str(input_path), str(output_path), fmt, on_error=on_error)
    result.model = {"name": doc["name"], "version": doc.get("version"), "md5": doc["md5"]}
    with connect(spec, name) as client:
        cluster = check_cluster(client, input_path)
        with client.as_current():
            frame = _read(input_path, fmt, doc, spec.partitions or 2 * cluster["workers"])
            shipped = client.scatter(payload, broadcast=True)
            futures = _submit(client, frame, shipped, allow_non_finite)
            total = _row_estimate(input_path, fmt)
            with atomic_path(output_path) as tmp:
                _collect(futures, tmp, out_fmt, result, progress, total, empty)
                del shipped
        result.runner = {
            "name": name,
            "kind": "dask",
            "scheduler": spec.scheduler,
            "partitions": frame.npartitions,
            **cluster,
        }
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _empty_output(doc: dict[str, Any]) -> pa.Table:
    """The output table for no rows (its schema), from a local load of the model, which
    also checks the model before the cluster sees it."""
    import pyarrow as pa

    from mlx.scoring.chunks import score_chunk
    from mlx.serve.model import ServedModel

    model = ServedModel.load(doc, threads=1)
    columns = {
        f["name"]: pa.array([], type=pa.string() if f["kind"] == "categorical" else pa.float32())
        for f in doc["features"]
    }
    return score_chunk(model, pa.table(columns)).table


def _read(path: Path, fmt: str, doc: dict[str, Any], partitions: int) -> dd.DataFrame:
    """The input as a Dask frame of text columns: the features and the id column."""
    import dask.dataframe as dd

    from mlx.errors import DataValidationFailed

    wanted = [f["name"] for f in doc["features"]]
    names = _column_names(path, fmt)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise DataValidationFailed(
            f"{path}: the input has no column(s) {', '.join(map(repr, missing))} the model needs",
            hint=f"the model takes: {', '.join(wanted)}",
        )
    if doc.get("id_column") in names:
        wanted.append(doc["id_column"])
    frame: dd.DataFrame
    if fmt == "csv":
        size = path.stat().st_size
        block = max(1 << 20, min(64 << 20, math.ceil(size / partitions)))
        text = {f["name"]: str for f in doc["features"]}  # parsed later as Arrow does
        frame = dd.read_csv(str(path), usecols=wanted, dtype=text, blocksize=block)[wanted]
    else:
        # a partition per row group: no worker reads the whole file
        frame = dd.read_parquet(str(path), columns=wanted, split_row_groups=True)
    if frame.npartitions < partitions:
        frame = frame.repartition(npartitions=partitions)
    return frame


def _column_names(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        names: list[str] = pq.read_schema(str(path)).names
        return names
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def _row_estimate(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    return 0


def _submit(client: Any, frame: dd.DataFrame, shipped: Any, allow_non_finite: bool) -> list[Any]:
    """One future per partition, in input order (``client``, ``shipped`` and the futures
    are distributed's Client and Futures, which carry no type hints)."""
    from dask import delayed

    task = delayed(_score_partition, pure=False)
    parts = frame.to_delayed()  # type: ignore[no-untyped-call]  # dask: no type hints
    return [client.compute(task(part, shipped, allow_non_finite)) for part in parts]


def _collect(
    futures: list[Any],
    dst: Path,
    out_fmt: str,
    result: ClusterBatchResult,
    progress: Progress | None,
    total: int,
    empty: pa.Table,
) -> None:
    """Take the partitions in input order: number rows, apply the policy, write."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlx.scoring.chunks import MAX_REPORTED, BadRow, bad_rows_error

    writer = None
    done = 0
    try:
        for i, future in enumerate(futures):
            table, bad, n = future.result()
            futures[i] = None  # let the cluster drop it
            table = _plain_strings(table)
            if "_row" in table.column_names:
                idx = table.column_names.index("_row")
                table = table.set_column(idx, "_row", pc.add(table.column(idx), pa.scalar(done)))
            if bad:
                rows = [BadRow(**(b | {"row": b["row"] + done})) for b in bad]
                result.bad_row_count += len(rows)
                room = MAX_REPORTED - len(result.bad_rows)
                result.bad_rows.extend(rows[: max(room, 0)])
                if result.on_error == "fail":
                    for rest in futures[i + 1 :]:
                        if rest is not None:
                            rest.cancel()
                    raise bad_rows_error(result.bad_rows, result.bad_row_count)
            if writer is None:
                writer = _open_writer(dst, out_fmt, table.schema)
            writer.write_table(table.cast(writer.schema) if out_fmt == "parquet" else table)
            done += n
            result.rows_in = done
            result.rows_out += table.num_rows
            if progress is not None:
                progress(done, max(total, done))
        if writer is None:  # no rows at all: still a valid, empty output
            writer = _open_writer(dst, out_fmt, empty.schema)
    finally:
        if writer is not None:
            writer.close()


def _plain_strings(table: pa.Table) -> pa.Table:
    """pandas hands Arrow large_string; local scoring writes string: same output types."""
    import pyarrow as pa

    fields = [
        f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _open_writer(path: Path, fmt: str, schema: pa.Schema) -> pq.ParquetWriter | pacsv.CSVWriter:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(str(path), schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(str(path), schema)

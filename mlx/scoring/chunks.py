"""Batch scoring: CSV or Parquet in, the same out, streamed in chunks of bounded size.

Reusable pieces (the Dask runner scores partitions with them on its workers):

- :func:`load_scoring_model` (a model folder → a verified :class:`ServedModel`);
- :func:`score_table` / :func:`score_chunk` (a ``pyarrow.Table`` → predictions, with bad
  rows reported by row number);
- :func:`score_file` (a file → a file, with a progress callback).

Output columns: the id column (``metadata.id``) when the input has it, else ``_row`` (the
input row number, from 0); then ``label`` and ``proba_<class>`` per class
(classification) or ``prediction`` (regression); then ``_score`` (see docs/internals.md).

A bad row is a value a numeric feature cannot take (text that is not a number;
infinity unless ``serve.allow_non_finite``) or a CSV line with the wrong number of
fields. Policy ``fail`` stops at the first chunk holding one (nothing is written);
``skip`` leaves them out and reports each by row number. Rows are numbered from 0 over
the data rows (for CSV, file line = row + 2 when no quoted value spans lines). Null and
empty values are missing values, not errors; unknown categories are missing, as in
training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlx.errors import CheckFailed, DataValidationFailed
from mlx.serve.model import ServedModel

MAX_REPORTED = 1000


@dataclass
class BadRow:
    row: int  # 0-based data row index in the input
    column: str | None
    value: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.reason}"


class BadRowsError(CheckFailed):
    """Bad rows under the ``fail`` policy; ``details['bad_rows']`` lists them."""


@dataclass
class ChunkResult:
    table: Any  # pyarrow.Table of outputs for the good rows
    bad: list[BadRow] = field(default_factory=list)


def load_scoring_model(folder: Path | str, threads: int = 0) -> ServedModel:
    """A model folder (``model.onnx`` + ``metadata.json``) → a verified model for scoring.

    ``threads`` = onnxruntime intra-op threads (0 = one per core). The file's md5 must
    match ``metadata.json``. Imports no pandas, lightgbm or DVC.
    """
    from mlx.registry.materialize import open_folder

    local = open_folder(Path(folder))  # the registry's loader: pointer and metadata md5 checked
    meta = local.metadata
    assert meta is not None  # open_folder refuses a folder without one
    spec = {
        "name": meta.name,
        "onnx_path": str(local.onnx_path),
        "md5": local.md5,
        "features": [f.to_dict() for f in meta.features],
        "id_column": meta.id,
        "task": meta.task,
        "classes": meta.classes,
        "commit": meta.code.commit or "",
    }
    return ServedModel.load(spec, threads=threads)


def score_table(
    model: ServedModel,
    table,
    *,
    on_error: str = "fail",
    row_offset: int = 0,
    allow_non_finite: bool = False,
):
    """Predictions for a ``pyarrow.Table`` (feature columns by name; others ignored except
    the id column, which is kept). ``fail``: :class:`BadRowsError` on any bad row;
    ``skip``: bad rows are left out (use :func:`score_chunk` to get them)."""
    result = score_chunk(model, table, row_offset=row_offset, allow_non_finite=allow_non_finite)
    if result.bad and on_error == "fail":
        raise bad_rows_error(result.bad, len(result.bad))
    return result.table


def bad_rows_error(bad: list[BadRow], total: int) -> BadRowsError:
    shown = "; ".join(str(b) for b in bad[:5])
    more = f" (and {total - 5} more)" if total > 5 else ""
    return BadRowsError(
        f"{total} bad row{'s' if total != 1 else ''}: {shown}{more}",
        hint="fix the data, or use --on-error skip to score the other rows and list these",
        details={"bad_rows": [b.to_dict() for b in bad[:MAX_REPORTED]], "bad_row_count": total},
    )


def check_columns(model: ServedModel, names: list[str]) -> None:
    missing = [n for n in model.schema.names if n not in names]
    if missing:
        raise DataValidationFailed(
            f"the input has no column(s) {', '.join(map(repr, missing))} that the model needs",
            hint=f"the model takes: {', '.join(model.schema.names)}",
        )


def score_chunk(
    model: ServedModel,
    table,
    *,
    row_offset: int = 0,
    row_numbers: np.ndarray | None = None,
    allow_non_finite: bool = False,
    workers: int = 1,
) -> ChunkResult:
    """Score one table. ``row_numbers`` (or ``row_offset`` + position) numbers the rows
    for reports and the ``_row`` column. ``workers`` > 1: the rows are scored in pieces
    on that many threads (:mod:`mlx.util.rowchunks`; the model's session should then
    have one intra-op thread)."""
    import pyarrow as pa

    schema = model.schema
    check_columns(model, table.column_names)
    n = table.num_rows
    rows = row_numbers if row_numbers is not None else np.arange(row_offset, row_offset + n)
    good = np.ones(n, dtype=bool)
    bad: list[BadRow] = []
    num = np.empty((schema.n_num, n), dtype=np.float32)
    for f in schema.numeric:
        values, errors = _numeric(table.column(f.name))
        for i, raw in errors:
            good[i] = False
            bad.append(BadRow(int(rows[i]), f.name, raw, "not a number"))
        with np.errstate(over="ignore"):
            num[f.pos] = values  # beyond float32's range becomes inf: caught just below
        if not allow_non_finite:
            for j in np.flatnonzero(np.isinf(num[f.pos])):
                i = int(j)
                if good[i]:
                    bad.append(BadRow(int(rows[i]), f.name, str(values[i]), "infinite value"))
                good[i] = False
    cats = [_strings(table.column(f.name)) for f in schema.categorical]
    keep = np.flatnonzero(good) if bad else None
    if keep is not None:
        num = np.ascontiguousarray(num[:, keep])
        cats = [c[keep] for c in cats]
        rows = rows[keep]
    bad.sort(key=lambda b: b.row)
    columns: dict[str, Any] = {}
    id_col = schema.id_column
    if id_col and id_col in table.column_names:
        ids = table.column(id_col)
        columns[id_col] = ids if keep is None else ids.take(pa.array(keep))
    else:
        columns["_row"] = pa.array(rows, type=pa.int64())
    if num.shape[1] == 0:
        outputs = _empty_outputs(model)
    elif workers > 1:
        from mlx.util.rowchunks import run_in_chunks

        session, names = model.session, model.output_names
        outputs = run_in_chunks(lambda f: session.run(names, f), model.feeds(num, cats), workers)
    else:
        outputs = model.predict(num, cats)
    columns.update(output_columns(model, outputs))
    return ChunkResult(pa.table(columns), bad)


def _empty_outputs(model: ServedModel) -> list[np.ndarray]:
    if model.task == "regression":
        return [np.empty((0, 1), dtype=np.float32)]
    k = len(model.classes or [])
    return [np.empty(0, dtype=np.int64), np.empty((0, k), dtype=np.float32)]


def output_columns(model: ServedModel, outputs: list[np.ndarray]) -> dict[str, Any]:
    import pyarrow as pa

    cols: dict[str, Any] = {}
    if model.task == "regression":
        cols["prediction"] = pa.array(outputs[0][:, 0], type=pa.float32())
    else:
        classes = model.classes or []
        if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            values = pa.array(np.asarray(classes, dtype=np.int64))
        else:
            values = pa.array([str(c) for c in classes], type=pa.string())
        cols["label"] = values.take(pa.array(outputs[0], type=pa.int64()))
        for k, c in enumerate(classes):
            cols[f"proba_{c}"] = pa.array(outputs[1][:, k], type=pa.float32())
    cols["_score"] = pa.array(np.asarray(model.score(outputs), dtype=np.float32), type=pa.float32())
    return cols


def _numeric(col) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Float values (null → NaN) and the (position, text) of values that are not numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = col.type
    if pa.types.is_null(typ):
        return np.full(len(col), np.nan, dtype=np.float32), []
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ) or pa.types.is_decimal(typ):  # fmt: skip
        as_float = col if pa.types.is_floating(typ) else pc.cast(col, pa.float64())
        return as_float.to_numpy(zero_copy_only=False), []  # the caller stores float32
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
        try:
            parsed = pc.cast(pc.utf8_trim_whitespace(pc.cast(col, pa.string())), pa.float64())
            return parsed.to_numpy(zero_copy_only=False), []
        except pa.ArrowInvalid:
            return _parse_slowly(col.to_pylist())
    raise DataValidationFailed(f"a numeric feature column has type {typ}, not numbers or text")


_BOOL_TEXT = {"true": 1.0, "false": 0.0}


def _parse_slowly(values: list) -> tuple[np.ndarray, list[tuple[int, str]]]:
    out = np.empty(len(values), dtype=np.float32)
    errors = []
    for i, v in enumerate(values):
        if v is None:
            out[i] = math.nan
            continue
        text = str(v).strip()
        try:
            out[i] = float(text) if text else math.nan
        except ValueError:
            if text.lower() in _BOOL_TEXT:
                out[i] = _BOOL_TEXT[text.lower()]
            else:
                out[i] = math.nan
                errors.append((i, text[:80]))
    return out, errors


def _strings(col) -> np.ndarray:
    """Categorical values as the graph takes them: an object array of text, "" for missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return pc.fill_null(col, "").to_numpy(zero_copy_only=False)

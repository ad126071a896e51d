"""Request bodies → validated rows, straight into numpy (no pandas, no pydantic).

Every payload shape (V2 tensors, MLflow ``dataframe_split`` / ``dataframe_records`` /
``instances`` / ``inputs``, plain records) ends in :func:`build_rows`, which checks the
values against the schema: numbers (or null = missing) for numeric features, strings
(or null) for categorical ones, no infinities unless allowed. Errors are
:class:`~mlx.serve.errors.BadRequest` naming the column and row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlx.serve.errors import BadRequest, listing, show
from mlx.serve.model import Schema

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class Rows:
    """Validated rows: ``num`` [n_num, n] float32 (feature-major), ``cats`` one list per
    categorical feature (strings or None), ``ids`` the id column when the client sent it."""

    __slots__ = ("n", "num", "cats", "ids")

    def __init__(self, n: int, num: np.ndarray, cats: list[list], ids: list | None = None):
        self.n, self.num, self.cats, self.ids = n, num, cats, ids


def build_rows(
    schema: Schema,
    columns: dict[str, Any],
    n: int,
    allow_non_finite: bool,
    noun: str = "column",
    ids: list | None = None,
) -> Rows:
    """Rows from one flat sequence (list or numpy array) of ``n`` values per feature."""
    if n == 0:
        raise BadRequest("the request has no rows to score")
    num = numeric_block(
        [columns[f.name] for f in schema.numeric], schema, n, noun, allow_non_finite
    )
    cats = [string_column(columns[f.name], f.name, noun) for f in schema.categorical]
    return Rows(n, num, cats, ids)


def non_finite(name: str, noun: str, values: np.ndarray, row: int | None = None) -> BadRequest:
    """The 400 for NaN or an infinity (or a number past float32's range) in a numeric
    feature: ``null`` is the one way to say missing, so NaN is refused like inf."""
    if row is None:
        row = int(np.flatnonzero(~np.isfinite(values))[0])
    what = "a NaN value" if math.isnan(values[row]) else "an infinite value"
    return BadRequest(
        f"{noun} {name!r} has {what} at row {row}: NaN and infinities are not accepted "
        "(send null for a missing value, or set serve.allow_non_finite)"
    )


def finite_f32(arr: np.ndarray, name: str, noun: str, allow_non_finite: bool) -> np.ndarray:
    """``arr`` (numbers only, no nulls) as float32, refusing NaN, inf and overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if not allow_non_finite and not np.isfinite(out).all():
        raise non_finite(name, noun, out.ravel())
    return out


def numeric_block(
    values: list, schema: Schema, n: int, noun: str, allow_non_finite: bool = False
) -> np.ndarray:
    """[len(values), n] float32 from lists of JSON numbers or numpy arrays (binary
    tensors); null becomes NaN (missing), NaN and inf sent as values are refused."""
    if not values:
        return np.empty((0, n), dtype=np.float32)
    if any(type(v) is np.ndarray for v in values):
        out = np.empty((len(values), n), dtype=np.float32)
        for j, v in enumerate(values):
            name = schema.numeric[j].name
            if type(v) is np.ndarray:
                out[j] = finite_f32(v, name, noun, allow_non_finite)
            else:
                out[j] = numeric_list(v, name, noun, allow_non_finite)
        return out
    try:
        arr = np.array(values)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.dtype.kind in "fiub" and arr.shape == (len(values), n):
        with np.errstate(over="ignore", invalid="ignore"):
            out = arr.astype(np.float32)
        if not allow_non_finite and not np.isfinite(out).all():
            j = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
            raise non_finite(schema.numeric[j].name, noun, out[j])
        return out
    out = np.empty((len(values), n), dtype=np.float32)
    for j, col in enumerate(values):
        out[j] = numeric_list(col, schema.numeric[j].name, noun, allow_non_finite)
    return out


def numeric_list(values: list, name: str, noun: str, allow_non_finite: bool = False) -> np.ndarray:
    """float32 from one list of JSON values: numbers, or null for missing (NaN)."""
    try:
        arr = np.array(values)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.dtype.kind in "fiub" and arr.ndim == 1:
        return finite_f32(arr, name, noun, allow_non_finite)
    with np.errstate(over="ignore"):
        out = _checked_list(values, name, noun, allow_non_finite).astype(np.float32)
    if not allow_non_finite and np.isinf(out).any():
        raise non_finite(name, noun, out)  # a finite number past float32's range
    return out


def _checked_list(col, name: str, noun: str, allow_non_finite: bool) -> np.ndarray:
    """The slow path: look at each value, convert null to NaN, name the first bad one."""
    if type(col) is not list:
        raise BadRequest(f"{noun} {name!r} must be a list of values, got {show(col)}")
    out = np.empty(len(col), dtype=np.float64)
    for i, v in enumerate(col):
        t = type(v)
        if v is None:
            out[i] = math.nan
        elif t is float:
            if not allow_non_finite and not math.isfinite(v):
                out[i] = v
                raise non_finite(name, noun, out, i)
            out[i] = v
        elif t is bool:
            out[i] = v
        elif t is int:
            out[i] = float(v) if abs(v) < 2**1000 else math.inf
        else:
            raise BadRequest(
                f"{noun} {name!r} is numeric: row {i} has {show(v)} ({_kind(v)}); "
                "send a number, or null for missing"
            )
    return out


def string_column(col, name: str, noun: str) -> list:
    """Strings (None = missing) for a categorical feature; integers are accepted as text."""
    if type(col) is not list:
        col = list(col)
    if all(type(v) is str for v in col):
        return col
    out = []
    for i, v in enumerate(col):
        t = type(v)
        if t is str or v is None:
            out.append(v)
        elif t is int:
            out.append(str(v))
        else:
            raise BadRequest(
                f"{noun} {name!r} is categorical: row {i} has {show(v)} ({_kind(v)}); "
                "send a string, or null for missing"
            )
    return out


def _kind(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", float: "a number"}.get(
        type(v), type(v).__name__
    )


# --- MLflow scoring server payloads and plain records --------------------------------------


def decode_mlflow(doc: Any, schema: Schema, allow_non_finite: bool) -> Rows:
    """``/invocations``: exactly one of dataframe_split, dataframe_records, instances, inputs."""
    if type(doc) is not dict:
        raise BadRequest("the body must be a JSON object with one of: " + ", ".join(MLFLOW_KEYS))
    found = [k for k in MLFLOW_KEYS if k in doc]
    unknown = sorted(set(doc) - set(MLFLOW_KEYS) - {"params"})
    if unknown:
        raise BadRequest(
            f"unknown key(s) {', '.join(map(repr, unknown))}; expected one of: "
            + ", ".join(MLFLOW_KEYS)
        )
    if len(found) != 1:
        raise BadRequest("send exactly one of: " + ", ".join(MLFLOW_KEYS))
    key = found[0]
    value = doc[key]
    if key == "dataframe_split":
        return split_rows(value, schema, allow_non_finite)
    if key == "dataframe_records":
        return record_rows(value, schema, allow_non_finite)
    if key == "inputs" and type(value) is dict:
        return columnar_rows(value, schema, allow_non_finite)
    return instance_rows(value, schema, allow_non_finite, key)


def split_rows(value: Any, schema: Schema, allow_non_finite: bool) -> Rows:
    if type(value) is not dict or type(value.get("columns")) is not list:
        raise BadRequest("dataframe_split must be an object with 'columns' and 'data'")
    columns, data = value["columns"], value.get("data")
    if type(data) is not list:
        raise BadRequest("dataframe_split.data must be a list of rows")
    if len(set(map(str, columns))) != len(columns):
        raise BadRequest("dataframe_split.columns lists a column twice")
    _check_names(columns, schema)
    width = len(columns)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if type(row) is list else show(row)
            raise BadRequest(
                f"dataframe_split row {i} has {got}; expected {width} (one per column)"
            )
    cols = dict(zip(columns, map(list, zip(*data, strict=True)), strict=False)) if data else {}
    cols = {c: cols.get(c, []) for c in columns}
    return _from_columns(cols, len(data), schema, allow_non_finite)


def record_rows(records: Any, schema: Schema, allow_non_finite: bool) -> Rows:
    if type(records) is not list or not all(type(r) is dict for r in records):
        raise BadRequest("records must be a list of objects ({column: value})")
    if not records:
        raise BadRequest("the request has no rows to score")
    keys: set = set().union(*records) if records else set()
    _check_names(keys, schema)
    cols = {name: [r.get(name) for r in records] for name in keys}
    return _from_columns(cols, len(records), schema, allow_non_finite)


def columnar_rows(value: dict, schema: Schema, allow_non_finite: bool) -> Rows:
    _check_names(value, schema)
    lengths = {k: len(v) if type(v) is list else None for k, v in value.items()}
    bad = [k for k, n in lengths.items() if n is None]
    if bad:
        raise BadRequest(f"inputs[{bad[0]!r}] must be a list of values")
    if len(set(lengths.values())) > 1:
        raise BadRequest(f"inputs columns have different lengths: {lengths}")
    n = next(iter(lengths.values()), 0) or 0
    return _from_columns(value, n, schema, allow_non_finite)


def instance_rows(value: Any, schema: Schema, allow_non_finite: bool, key: str) -> Rows:
    if type(value) is not list:
        raise BadRequest(f"{key} must be a list of rows")
    if value and all(type(r) is dict for r in value):
        return record_rows(value, schema, allow_non_finite)
    width = len(schema.names)
    if width == 1 and all(type(r) is not list for r in value):
        value = [[r] for r in value]
    for i, row in enumerate(value):
        if type(row) is not list or len(row) != width:
            raise BadRequest(
                f"{key} row {i}: expected an object or a list of {width} values "
                f"({', '.join(schema.names)})"
            )
    cols = dict(zip(schema.names, map(list, zip(*value, strict=True)), strict=False))
    return _from_columns(cols, len(value), schema, allow_non_finite)


def _check_names(names, schema: Schema) -> None:
    given = set(names)
    extra = sorted(str(c) for c in given - set(schema.names) - {schema.id_column})
    if extra:
        raise BadRequest(
            f"unknown column(s): {listing(extra)}; the model takes: {listing(schema.names, 30)}"
        )
    missing = [c for c in schema.names if c not in given]
    if missing:
        raise BadRequest(f"missing column(s): {listing(missing)}")


def _from_columns(cols: dict, n: int, schema: Schema, allow_non_finite: bool) -> Rows:
    ids = cols.get(schema.id_column) if schema.id_column else None
    return build_rows(schema, cols, n, allow_non_finite, "column", ids)


def decode_records(doc: Any, schema: Schema, allow_non_finite: bool) -> Rows:
    """``/predict``: one record ``{column: value}`` or a list of them."""
    if type(doc) is dict:
        doc = [doc]
    if type(doc) is not list:
        raise BadRequest("the body must be a record {column: value} or a list of records")
    return record_rows(doc, schema, allow_non_finite)

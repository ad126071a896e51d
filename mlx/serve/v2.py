"""Open Inference Protocol (KServe V2) inference requests and responses.

Inputs come either as one tensor per feature column (shape ``[N]`` or ``[N, 1]``; FP32 or
any numeric type for numeric features, BYTES for categorical ones) or, for all-numeric
models, as one ``[N, n_features]`` tensor whose columns follow the model's feature order.
Data may be JSON (flat or nested, row-major) or binary (the binary tensor extension).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mlx.serve.binary import NUMERIC_DATATYPES, BinaryReader
from mlx.serve.decode import Rows, build_rows, numeric_list
from mlx.serve.errors import BadRequest, listing, show
from mlx.serve.model import CATEGORICAL, ServedModel

_NUMPY_OPT = orjson.OPT_SERIALIZE_NUMPY
_F32_MAX = float(np.finfo(np.float32).max)


class V2Request:
    """What the client asked for besides rows: its id and how to send each output."""

    __slots__ = ("id", "outputs")

    def __init__(self, rid: Any, outputs: list[tuple[int, bool]]) -> None:
        self.id = rid
        self.outputs = outputs  # (index into model outputs, binary?)


def decode_v2(
    doc: Any, model: ServedModel, allow_non_finite: bool, tail: memoryview | None
) -> tuple[Rows, V2Request]:
    schema = model.schema
    if type(doc) is not dict:
        raise BadRequest("the request body must be a JSON object with 'inputs'")
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    params = doc.get("parameters")
    if params is not None and type(params) is not dict:
        raise BadRequest("'parameters' must be an object")
    reader = BinaryReader(tail) if tail is not None else None
    first = inputs[0]
    if (
        len(inputs) == 1
        and type(first) is dict
        and first.get("name") not in schema.by_name
        and schema.all_numeric
    ):
        rows = _tensor_2d(first, model, allow_non_finite, reader)
    else:
        rows = _per_column(inputs, model, allow_non_finite, reader)
    if reader is not None:
        reader.finish()
    binary_default = bool(params.get("binary_data_output")) if params else False
    return rows, V2Request(doc.get("id"), _requested_outputs(doc, model, binary_default))


def _tensor(inp: Any, reader: BinaryReader | None) -> tuple[str, str, list[int], Any]:
    if type(inp) is not dict:
        raise BadRequest("each input must be an object with name, shape, datatype and data")
    name = inp.get("name")
    if type(name) is not str:
        raise BadRequest("an input has no 'name'")
    datatype = inp.get("datatype")
    if type(datatype) is not str:
        raise BadRequest(f"input {name!r} has no 'datatype'")
    shape = inp.get("shape")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r}: 'shape' must be a list of non-negative integers")
    count = 1
    for d in shape:
        count *= d
    params = inp.get("parameters")
    size = params.get("binary_data_size") if type(params) is dict else None
    if size is not None:
        if reader is None:
            raise BadRequest(
                f"input {name!r} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        return name, datatype, shape, reader.take(name, datatype, count, size)
    data = inp.get("data")
    if type(data) is not list:
        raise BadRequest(f"input {name!r} has no 'data' (a list) and no binary_data_size")
    if data and type(data[0]) is list:
        data = _flatten(data, name)
    if len(data) != count:
        raise BadRequest(f"input {name!r}: shape {shape} needs {count} values, got {len(data)}")
    return name, datatype, shape, data


def _flatten(data: list, name: str) -> list:
    flat: list = []
    stack = [data]
    while stack:
        part = stack.pop()
        if part and type(part[0]) is list:
            if not all(type(p) is list for p in part):
                raise BadRequest(f"input {name!r}: nested 'data' mixes lists and values")
            stack.extend(reversed(part))
        else:
            flat.extend(part)
    return flat


def _fast_per_column(inputs: list, model: ServedModel, allow_non_finite: bool) -> Rows | None:
    """The common case checked with a few C-level list operations instead of a Python
    loop over inputs: JSON inputs with exactly name/shape/datatype/data, in the model's
    order, declared datatypes as the model's, one shape [N, 1] or [N] shared by all, flat
    data of N values. Anything else returns None and takes the full, explaining path."""
    schema = model.schema
    try:
        if sum(map(len, inputs)) != 4 * len(inputs):
            return None
        names = [i["name"] for i in inputs]
        if names != schema.names:
            return None
        if [i["datatype"] for i in inputs] != schema.v2_datatypes:
            return None
        shapes = [i["shape"] for i in inputs]
        shape = shapes[0]
        if shapes.count(shape) != len(shapes) or type(shape) is not list:
            return None
        n = shape[0]
        if type(n) is not int or n < 1 or shape[1:] not in ([], [1]):
            return None
        datas = [i["data"] for i in inputs]
        if list(map(len, datas)) != [n] * len(datas):
            return None
    except (KeyError, TypeError, IndexError):
        return None
    if schema.all_numeric:
        if n == 1:  # one row: a flat list converts faster than a list of lists
            flat = [d[0] for d in datas]
            try:  # numbers only (None, text, lists raise); within float32's range
                if not (-_F32_MAX <= min(flat) and max(flat) <= _F32_MAX):
                    return None
            except TypeError:
                return None
            return Rows(1, np.array(flat, dtype=np.float32).reshape(-1, 1), [])
        try:
            arr = np.array(datas)
        except (ValueError, TypeError):
            return None
        if arr.dtype.kind not in "fiub" or arr.shape != (len(datas), n):
            return None
        with np.errstate(over="ignore"):
            num = arr.astype(np.float32)
        if not allow_non_finite and np.isinf(num).any():
            return None
        return Rows(n, num, [])
    columns = dict(zip(names, datas, strict=True))
    if any(type(d[0]) is list for d in datas):
        return None
    return build_rows(schema, columns, n, allow_non_finite, "input")


def _per_column(inputs: list, model: ServedModel, allow_non_finite: bool, reader) -> Rows:
    if reader is None:
        rows = _fast_per_column(inputs, model, allow_non_finite)
        if rows is not None:
            return rows
    schema = model.schema
    columns: dict[str, Any] = {}
    n = -1
    first_name = ""
    for inp in inputs:
        name, datatype, shape, data = _tensor(inp, reader)
        f = schema.by_name.get(name)
        if f is None:
            hint = (
                "; a single [N, n_features] tensor works only for all-numeric models"
                if len(inputs) == 1
                else ""
            )
            raise BadRequest(
                f"unknown input {name!r}; the model's inputs are: {listing(schema.names, 30)}{hint}"
            )
        if name in columns:
            raise BadRequest(f"input {name!r} appears twice")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise BadRequest(f"input {name!r}: shape {shape} must be [N] or [N, 1] (one column)")
        if f.kind == CATEGORICAL:
            if datatype != "BYTES":
                raise BadRequest(
                    f"input {name!r} is categorical: datatype must be BYTES, got {show(datatype)}"
                )
        elif datatype not in NUMERIC_DATATYPES:
            raise BadRequest(
                f"input {name!r} is numeric: datatype must be FP32 (or another numeric "
                f"type), got {show(datatype)}"
            )
        if n < 0:
            n, first_name = shape[0], name
        elif shape[0] != n:
            raise BadRequest(f"input {name!r} has {shape[0]} rows but {first_name!r} has {n}")
        columns[name] = data
    missing = [c for c in schema.names if c not in columns]
    if missing:
        raise BadRequest(f"missing input(s): {listing(missing)}")
    return build_rows(schema, columns, n, allow_non_finite, "input")


def _tensor_2d(inp: Any, model: ServedModel, allow_non_finite: bool, reader) -> Rows:
    schema = model.schema
    name, datatype, shape, data = _tensor(inp, reader)
    width = len(schema.names)
    if len(shape) != 2 or shape[1] != width:
        raise BadRequest(
            f"unknown input {name!r}: the model takes one input per feature "
            f"({', '.join(schema.names)}) or one [N, {width}] tensor; got shape {shape}"
        )
    if datatype not in NUMERIC_DATATYPES:
        raise BadRequest(
            f"input {name!r}: datatype must be FP32 (or numeric), got {show(datatype)}"
        )
    n = shape[0]
    if type(data) is not np.ndarray:
        data = numeric_list(data, name, "input")
    block = np.ascontiguousarray(data.reshape(n, width).T, dtype=np.float32)
    cols = {f.name: block[f.pos] for f in schema.numeric}
    return build_rows(schema, cols, n, allow_non_finite, "column")


def _requested_outputs(doc: dict, model: ServedModel, binary_default: bool):
    names = model.output_names
    asked = doc.get("outputs")
    if asked is None:
        return [(i, binary_default) for i in range(len(names))]
    if type(asked) is not list:
        raise BadRequest("'outputs' must be a list")
    out = []
    for o in asked:
        name = o.get("name") if type(o) is dict else None
        if name not in names:
            raise BadRequest(f"unknown output {show(name)}; outputs are: {', '.join(names)}")
        p = o.get("parameters") or {}
        if type(p) is not dict:
            raise BadRequest(f"output {name!r}: 'parameters' must be an object")
        if p.get("class_count"):
            raise BadRequest("the classification extension (class_count) is not supported")
        out.append((names.index(name), bool(p.get("binary_data", binary_default))))
    return out


def encode_v2(
    model: ServedModel, req: V2Request, outputs: list[np.ndarray], s: int, e: int
) -> tuple[bytes, int | None]:
    """(body, JSON header length or None) for rows ``s:e`` of a batch's outputs."""
    specs = model.v2_outputs()
    out_docs, blobs = [], []
    for i, binary in req.outputs:
        part = outputs[i][s:e]
        doc: dict[str, Any] = {
            "name": specs[i]["name"],
            "datatype": specs[i]["datatype"],
            "shape": list(part.shape),
        }
        if binary:
            blob = part.tobytes()
            doc["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            doc["data"] = part.ravel()
        out_docs.append(doc)
    resp: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if req.id is not None:
        resp["id"] = req.id
    resp["outputs"] = out_docs
    header = orjson.dumps(resp, option=_NUMPY_OPT)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)

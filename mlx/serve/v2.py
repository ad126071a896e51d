"""Open Inference Protocol (KServe V2) inference requests and responses.

Inputs come either as one tensor per feature column (shape ``[N]`` or ``[N, 1]``; FP32 or
any numeric type for numeric features, BYTES for categorical ones) or, for all-numeric
models, as one ``[N, n_features]`` tensor whose columns follow the model's feature order.
Data may be JSON (flat or nested, row-major) or binary (the binary tensor extension).
"""

from __future__ import annotations

from math import isfinite
from typing import Any

import numpy as np
import orjson

from mlx.serve.binary import DATATYPES, NUMERIC_DATATYPES, BinaryReader
from mlx.serve.decode import Rows, build_rows, finite_f32, numeric_list
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
    """The one place a V2 inference body is decoded: every field the protocol defines
    has its type checked here (a wrong type is a 400 naming the field), on the fast
    path and the full path alike."""
    schema = model.schema
    if type(doc) is not dict:
        raise BadRequest("the request body must be a JSON object with 'inputs'")
    rid = doc.get("id")
    if rid is not None and type(rid) is not str:
        raise BadRequest(f"'id' must be a string, got {_what(rid)}")
    params = doc.get("parameters")
    if params is not None and type(params) is not dict:
        raise BadRequest(f"'parameters' must be an object, got {_what(params)}")
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    reader = BinaryReader(tail) if tail is not None else None
    first = inputs[0]
    name = first.get("name") if type(first) is dict else None
    if len(inputs) == 1 and type(name) is str and name not in schema.by_name and schema.all_numeric:
        rows = _tensor_2d(first, model, allow_non_finite, reader)
    else:
        rows = _per_column(inputs, model, allow_non_finite, reader)
    if reader is not None:
        reader.finish()
    binary_default = bool(params.get("binary_data_output")) if params else False
    return rows, V2Request(rid, _requested_outputs(doc, model, binary_default))


def _what(value: Any) -> str:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")  # fmt: skip
    return kind if type(value) in (dict, list, type(None)) else f"{kind} ({show(value)})"


def _tensor(inp: Any, i: int, reader: BinaryReader | None) -> tuple[str, str, list[int], Any]:
    where = f"inputs[{i}]"
    if type(inp) is not dict:
        raise BadRequest(
            f"{where} must be an object with name, shape, datatype and data, got {_what(inp)}"
        )
    name = inp.get("name")
    if type(name) is not str:
        if name is None:
            raise BadRequest(f"{where}.name is missing: each input needs a name (a string)")
        raise BadRequest(f"{where}.name must be a string, got {_what(name)}")
    where = f"input {name!r}"
    datatype = inp.get("datatype")
    if type(datatype) is not str:
        raise BadRequest(f"{where}: 'datatype' must be a string (FP32, BYTES, ...), got {_what(datatype)}")  # fmt: skip
    if datatype not in DATATYPES:
        raise BadRequest(
            f"{where}: unknown datatype {show(datatype)}; the protocol's are {', '.join(DATATYPES)}"
        )
    shape = inp.get("shape")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(
            f"{where}: 'shape' must be a list of non-negative integers (not empty), got {_what(shape)}"
        )
    count = 1
    for d in shape:
        count *= d
    params = inp.get("parameters")
    if params is not None and type(params) is not dict:
        raise BadRequest(f"{where}: 'parameters' must be an object, got {_what(params)}")
    size = params.get("binary_data_size") if params else None
    if size is not None:
        if reader is None:
            raise BadRequest(
                f"input {name!r} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        return name, datatype, shape, reader.take(name, datatype, count, size)
    data = inp.get("data")
    if type(data) is not list:
        if data is None:
            raise BadRequest(f"input {name!r} has no 'data' (a list) and no binary_data_size")
        raise BadRequest(f"{where}: 'data' must be a list, got {_what(data)}")
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
        datas = [i["data"] for i in inputs]  # lists, or a str/dict of length n (see below)
        if list(map(len, datas)) != [n] * len(datas):
            return None
    except (KeyError, TypeError, IndexError):
        return None
    if schema.all_numeric:
        if n == 1:  # one row: a flat list converts faster than a list of lists
            try:  # numbers only (None, text, lists, a dict's missing 0 raise); finite, in range
                flat = [d[0] for d in datas]
                if not (-_F32_MAX <= min(flat) and max(flat) <= _F32_MAX and isfinite(sum(flat))):
                    return None
            except (TypeError, OverflowError, KeyError):
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
        if not allow_non_finite and not np.isfinite(num).all():
            return None  # NaN or inf sent as a value: the full path names it
        return Rows(n, num, [])
    if list(map(type, datas)).count(list) != len(datas) or any(type(d[0]) is list for d in datas):
        return None
    columns = dict(zip(names, datas, strict=True))
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
    for i, inp in enumerate(inputs):
        name, datatype, shape, data = _tensor(inp, i, reader)
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
    name, datatype, shape, data = _tensor(inp, 0, reader)
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
    if n == 0:
        raise BadRequest("the request has no rows to score")
    if type(data) is np.ndarray:  # binary: no nulls, so NaN here was sent as a value
        data = finite_f32(data, name, "input", allow_non_finite)
    else:
        data = numeric_list(data, name, "input", allow_non_finite)
    # all-numeric: the block's rows are the features in the model's order
    return Rows(n, np.ascontiguousarray(data.reshape(n, width).T), [])


def _requested_outputs(doc: dict, model: ServedModel, binary_default: bool):
    names = model.output_names
    asked = doc.get("outputs")
    if asked is None:
        return [(i, binary_default) for i in range(len(names))]
    if type(asked) is not list:
        raise BadRequest(f"'outputs' must be a list, got {_what(asked)}")
    out = []
    for j, o in enumerate(asked):
        if type(o) is not dict:
            raise BadRequest(f"outputs[{j}] must be an object with a name, got {_what(o)}")
        name = o.get("name")
        if type(name) is not str:
            raise BadRequest(f"outputs[{j}].name must be a string, got {_what(name)}")
        if name not in names:
            raise BadRequest(f"unknown output {show(name)}; outputs are: {', '.join(names)}")
        p = o.get("parameters")
        if p is None:
            p = {}
        elif type(p) is not dict:
            raise BadRequest(f"outputs[{j}] ({name!r}): 'parameters' must be an object, got {_what(p)}")  # fmt: skip
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

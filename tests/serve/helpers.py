"""Rows, expected outputs (straight from an onnxruntime session) and client helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROWS = [
    {"row_id": 1, "x1": 0.5, "x2": 1.0, "color": "red", "size": "S"},
    {"row_id": 2, "x1": None, "x2": 7.5, "color": "blue", "size": "M"},
    {"row_id": 3, "x1": -1.25, "x2": 3.0, "color": "purple", "size": "L"},  # unseen color
    {"row_id": 4, "x1": 2.0, "x2": 9.0, "color": None, "size": "S"},
]
# tritonclient sends a missing number as NaN (binary tensors have no null), which the
# server refuses unless serve.allow_non_finite: its rows have every number
TRITON_ROWS = [{**r, "x1": -0.5 if r["x1"] is None else r["x1"]} for r in ROWS]


def model_dir(project: Path) -> Path:
    meta_dirs = list((project / "models").iterdir())
    assert len(meta_dirs) == 1
    return meta_dirs[0]


def metadata(project: Path) -> dict:
    return json.loads((model_dir(project) / "metadata.json").read_text())


def onnx_outputs(project: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    """What the ONNX session itself says for ``rows`` (the reference for every test)."""
    meta = metadata(project)
    sess = ort.InferenceSession(str(model_dir(project) / "model.onnx"))
    feeds = {}
    for f in meta["features"]:
        values = [r.get(f["name"]) for r in rows]
        if f["kind"] == "categorical":
            feeds[f["name"]] = np.array(
                ["" if v is None else v for v in values], dtype=object
            ).reshape(-1, 1)
        else:
            feeds[f["name"]] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float32
            ).reshape(-1, 1)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds), strict=True))


def v2_json(rows: list[dict], features: list[dict], **extra) -> dict:
    inputs = []
    for f in features:
        cat = f["kind"] == "categorical"
        inputs.append(
            {
                "name": f["name"],
                "shape": [len(rows), 1],
                "datatype": "BYTES" if cat else "FP32",
                "data": [r.get(f["name"]) for r in rows],
            }
        )
    return {"inputs": inputs, **extra}


def triton_inputs(rows: list[dict], features: list[dict], binary: bool = True):
    import tritonclient.http as th

    out = []
    for f in features:
        values = [r.get(f["name"]) for r in rows]
        if f["kind"] == "categorical":
            arr = np.array(["" if v is None else v for v in values], dtype=object).reshape(-1, 1)
            inp = th.InferInput(f["name"], list(arr.shape), "BYTES")
        else:
            arr = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(
                -1, 1
            )
            inp = th.InferInput(f["name"], list(arr.shape), "FP32")
        inp.set_data_from_numpy(arr, binary_data=binary)
        out.append(inp)
    return out

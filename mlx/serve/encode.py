"""Responses for ``/invocations`` (MLflow's shape) and ``/predict`` (one object per row)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mlx.serve.model import ServedModel

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def mlflow_body(model: ServedModel, outputs: list[np.ndarray], s: int, e: int) -> bytes:
    """``{"predictions": [...]}``: the class (as in training) per row, or the value."""
    if model.task == "regression":
        return orjson.dumps({"predictions": outputs[0][s:e, 0]}, option=_NUMPY)
    labels = model.class_values[outputs[0][s:e]].tolist()
    return orjson.dumps({"predictions": labels})


def predict_body(
    model: ServedModel,
    outputs: list[np.ndarray],
    s: int,
    e: int,
    ids: list | None,
    request_id: str,
) -> bytes:
    """``{"model", "version", "request_id", "predictions": [{...} per row]}``."""
    rows: list[dict[str, Any]]
    if model.task == "regression":
        rows = [{"prediction": v} for v in outputs[0][s:e, 0].tolist()]
    else:
        labels = model.class_values[outputs[0][s:e]].tolist()
        probs = outputs[1][s:e].tolist()
        keys = [str(c) for c in model.classes or []]
        scores = model.score([outputs[0][s:e], outputs[1][s:e]]).tolist()
        rows = [
            {"label": lab, "probabilities": dict(zip(keys, p, strict=True)), "score": sc}
            for lab, p, sc in zip(labels, probs, scores, strict=True)
        ]
    if ids is not None:
        for row, rid in zip(rows, ids, strict=True):
            row["id"] = rid
    return orjson.dumps(
        {
            "model": model.name,
            "version": model.version,
            "model_version": model.version,
            "request_id": request_id,
            "predictions": rows,
        }
    )

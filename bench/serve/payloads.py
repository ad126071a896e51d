"""Single-row request bodies for each protocol, built from the same distinct rows, and
the answer each server must give (checked once before it is loaded).

The rows rotate in the load generator: replaying one row lets the CPU's branch
predictor memorise the tree walk and flatters everyone.
"""

from __future__ import annotations

import json
import math
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.serve.models import Model, category_codes, synth_frame

ROWS = 1000


@dataclass
class Rows:
    """Distinct single rows: raw values (strings for categoricals) and LightGBM codes."""

    names: list[str]
    kinds: list[str]
    raw: list[list]  # per row, per feature: float or str
    codes: np.ndarray  # float64 [n, features]: what the native booster takes
    expected_onnx: np.ndarray  # P(class 1) from onnxruntime
    expected_native: np.ndarray  # P(class 1) from LightGBM on the codes


def sample_rows(model: Model, n: int = ROWS) -> Rows:
    import pandas as pd

    names, kinds = model.feature_names, [f["kind"] for f in model.features]
    if model.name == "synth":
        frame = synth_frame(n, seed=2)[names]
        frame = frame.astype("float64").round(4)
    else:
        frame = pd.read_csv(model.project / model.metadata["data"]["path"])[names].dropna()
        frame = frame.sample(n=min(n, len(frame)), random_state=3).reset_index(drop=True)
    raw = []
    for rec in frame.itertuples(index=False):
        raw.append(
            [
                str(v) if k == "categorical" else float(round(float(v), 4))
                for v, k in zip(rec, kinds, strict=True)
            ]
        )
    tables = category_codes(model)
    codes = np.empty((len(raw), len(names)), dtype=np.float64)
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        col = [r[j] for r in raw]
        if kind == "categorical":
            index = {c: i for i, c in enumerate(tables[name])}
            codes[:, j] = [index.get(v, math.nan) for v in col]
        else:
            codes[:, j] = col
    rows = Rows(names, kinds, raw, codes, np.empty(0), np.empty(0))
    rows.expected_onnx = onnx_scores(model, rows)
    rows.expected_native = native_scores(model, rows)
    return rows


def onnx_feeds(rows: Rows, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    part = rows.raw[start:stop]
    feeds = {}
    for j, (name, kind) in enumerate(zip(rows.names, rows.kinds, strict=True)):
        col = [r[j] for r in part]
        if kind == "categorical":
            feeds[name] = np.asarray(col, dtype=object).reshape(-1, 1)
        else:
            feeds[name] = np.asarray(col, dtype=np.float32).reshape(-1, 1)
    return feeds


def onnx_scores(model: Model, rows: Rows) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model.onnx), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, onnx_feeds(rows)), strict=True))
    return np.asarray(out["probabilities"])[:, 1].astype(np.float64)


def native_scores(model: Model, rows: Rows) -> np.ndarray:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model.native))
    return np.asarray(booster.predict(rows.codes), dtype=np.float64)


# --- request bodies -------------------------------------------------------------------


def v2_body(rows: Rows, i: int) -> dict:
    """Open Inference Protocol JSON: one [1, 1] input per feature (mlx's ONNX inputs)."""
    return {
        "inputs": [
            {
                "name": name,
                "shape": [1, 1],
                "datatype": "BYTES" if kind == "categorical" else "FP32",
                "data": [value],
            }
            for name, kind, value in zip(rows.names, rows.kinds, rows.raw[i], strict=True)
        ]
    }


def mlserver_body(rows: Rows, i: int) -> dict:
    """V2 JSON with one [1, F] FP64 tensor: what MLServer's LightGBM runtime decodes."""
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": [1, len(rows.names)],
                "datatype": "FP64",
                "data": [_num(v) for v in rows.codes[i]],
            }
        ]
    }


def mlflow_body(rows: Rows, i: int) -> dict:
    """MLflow's ``dataframe_split`` with the category codes."""
    return {"dataframe_split": {"columns": rows.names, "data": [[_num(v) for v in rows.codes[i]]]}}


def _num(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


BODIES = {"v2": v2_body, "mlserver": mlserver_body, "mlflow": mlflow_body}


def write_bodies(rows: Rows, protocol: str, path: Path) -> Path:
    """One JSON body per line, for the wrk Lua script to rotate through."""
    build = BODIES[protocol]
    lines = [json.dumps(build(rows, i), separators=(",", ":")) for i in range(len(rows.raw))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def score_from(protocol: str, doc: dict) -> float:
    """P(class 1) from a server's JSON answer."""
    if protocol == "mlflow":
        pred = doc["predictions"]
        return float(np.ravel(pred)[0])
    outputs = {o["name"]: o for o in doc["outputs"]}
    if protocol == "v2":
        return float(np.ravel(outputs["probabilities"]["data"])[1])
    return float(np.ravel(doc["outputs"][0]["data"])[0])


def check_answers(url: str, rows: Rows, protocol: str, n: int = 20) -> str | None:
    """Send ``n`` rows one by one; None if every answer matches, else what went wrong."""
    expected = rows.expected_native if protocol in ("mlflow", "mlserver") else rows.expected_onnx
    worst = 0.0
    for i in range(n):
        body = json.dumps(BODIES[protocol](rows, i)).encode()
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                doc = json.loads(resp.read())
        except Exception as exc:  # any failure becomes the row's reason
            detail = getattr(exc, "read", lambda: b"")()[:200].decode(errors="replace")
            return f"request failed: {exc} {detail}".strip()
        try:
            got = score_from(protocol, doc)
        except (KeyError, IndexError, TypeError, ValueError):
            return f"unexpected answer: {json.dumps(doc)[:200]}"
        worst = max(worst, abs(got - expected[i]))
    if worst > 1e-4:
        return f"wrong answers: max |Δp| = {worst:.3g} against the reference scores"
    return None

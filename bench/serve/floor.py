"""The floor: the raw onnxruntime session call (one thread), single row and per batch,
with LightGBM's native predict beside it. Rows rotate so no call repeats the last."""

from __future__ import annotations

import time

import numpy as np

from bench.serve.models import Model
from bench.serve.payloads import Rows, onnx_feeds

BATCH_SIZES = (1, 10, 100, 1000)


def _time_calls(fn, inputs: list, seconds: float) -> float:
    """Seconds per call, cycling through ``inputs`` for about ``seconds``."""
    for x in inputs[: min(len(inputs), 50)]:  # warm-up
        fn(x)
    n, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while True:
        for x in inputs:
            fn(x)
        n += len(inputs)
        now = time.perf_counter()
        if now >= deadline:
            return (now - t0) / n


def _batches(rows: Rows, size: int, count: int) -> list[tuple[int, int]]:
    total = len(rows.raw)
    out = []
    for k in range(count):
        start = (k * size) % total
        if start + size > total:
            start = 0
        out.append((start, min(start + size, total)))
    return out


def measure(model: Model, rows: Rows, seconds: float = 1.0) -> list[dict]:
    import lightgbm as lgb
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model.onnx), opts, providers=["CPUExecutionProvider"])
    booster = lgb.Booster(model_file=str(model.native))
    booster.pandas_categorical = None  # codes go in as plain numbers, as for the peers
    results = []
    for size in BATCH_SIZES:
        if size > len(rows.raw):
            continue
        spans = _batches(rows, size, max(1, min(len(rows.raw) // size, 200)))
        feeds = [onnx_feeds(rows, a, b) for a, b in spans]
        codes = [np.ascontiguousarray(rows.codes[a:b]) for a, b in spans]
        ort_s = _time_calls(lambda f: sess.run(None, f), feeds, seconds)
        lgb_s = _time_calls(lambda x: booster.predict(x, num_threads=1), codes, seconds)
        results.append(
            {
                "rows": size,
                "onnxruntime_us_per_call": round(ort_s * 1e6, 2),
                "onnxruntime_us_per_row": round(ort_s * 1e6 / size, 3),
                "lightgbm_us_per_call": round(lgb_s * 1e6, 2),
                "lightgbm_us_per_row": round(lgb_s * 1e6 / size, 3),
            }
        )
    return results

"""Scoring current data with the model's ONNX graph, for prediction drift on plain files.

Prediction logs carry ``_score``; a CSV/Parquet batch does not, so monitoring runs the
model on it (inputs and outputs as fixed in docs/internals.md: one ``[-1, 1]`` input per
feature, FP32 or string; outputs ``label``/``probabilities`` or ``prediction``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

CHUNK = 65_536


def score_table(
    onnx_path: Path, table: pa.Table, features: list[dict[str, Any]], task: str, threads: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores (see docs/internals.md "Score") and class indexes (None for regression)."""
    import numpy as np
    import onnxruntime as ort

    from mlx.model_files import score_of
    from mlx.monitor.engine import numeric_values

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    columns = {}
    for feature in features:
        name = feature["name"]
        if feature["kind"] == "numeric":
            values, _, _ = numeric_values(table[name])
            columns[name] = values.astype(np.float32).reshape(-1, 1)
        else:
            text = table[name].cast("string").fill_null("").to_numpy(zero_copy_only=False)
            columns[name] = text.astype(object).reshape(-1, 1)
    scores, labels = [], []
    outputs = ["prediction"] if task == "regression" else ["label", "probabilities"]
    for start in range(0, table.num_rows, CHUNK):
        feed = {name: col[start : start + CHUNK] for name, col in columns.items()}
        result = session.run(outputs, feed)
        if task == "regression":
            scores.append(score_of(task, result[0]))
            continue
        label, probs = result
        labels.append(label)
        scores.append(score_of(task, probs))
    if not scores:
        return np.empty(0), None if task == "regression" else np.empty(0, dtype=np.int64)
    score = np.concatenate(scores).astype("float64")
    return score, (np.concatenate(labels) if labels else None)

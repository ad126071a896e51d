"""Names and readers for the files of a model folder (see docs/internals.md).

Cheap to import: the serve path reads metadata through here without pandas or DVC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlx.errors import UsageError

ONNX = "model.onnx"
NATIVE = "model.lgb.txt"
METADATA = "metadata.json"
EVAL_DIR = "eval"
EVAL_METRICS = "eval/metrics.json"
FORMAT = 1

OUTPUT_LABEL = "label"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_PREDICTION = "prediction"
RESERVED_NAMES = {OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_PREDICTION}


def load_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA
    if not path.is_file():
        raise UsageError(
            f"no trained model in {folder} ({METADATA} missing)", hint="run `mlx train` first"
        )
    return parse_metadata(path.read_bytes(), str(path))


def parse_metadata(raw: bytes | str, origin: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{origin} is not valid JSON: {exc}") from None
    if meta.get("format") != FORMAT:
        raise UsageError(
            f"{origin}: unsupported metadata format {meta.get('format')!r} (expected {FORMAT})"
        )
    return meta


def score_of(task: str, outputs: dict[str, Any]):
    """The one number per row that monitoring tracks (see docs/internals.md, Score)."""
    if task == "regression":
        return outputs[OUTPUT_PREDICTION][:, 0]
    probs = outputs[OUTPUT_PROBABILITIES]
    return probs[:, 1] if task == "binary" else probs.max(axis=1)

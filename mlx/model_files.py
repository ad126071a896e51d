"""Names of the files of a model folder and of the graph's outputs (docs/internals.md),
and the one definition of the monitoring score.

Cheap to import (no pydantic, pandas or DVC): serve workers use it. The typed
``metadata.json`` lives in :mod:`mlx.metadata`.
"""

from __future__ import annotations

from typing import Any

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


def score_of(task: str, prediction: Any) -> Any:
    """The one number per row that monitoring tracks (docs/internals.md, Score): the
    probability of the second class (binary), the top class's probability (multiclass),
    the prediction (regression). ``prediction`` is the graph's ``probabilities``
    ``[n, k]`` or ``prediction`` (``[n]`` or ``[n, 1]``) output, a numpy array.

    Train (the reference profile), the server (prediction logs) and ``mlx monitor``
    (scoring a plain file) all call this; tests/serve/test_score_agreement.py holds them
    to it."""
    if task == "regression":
        return prediction.reshape(-1)
    return prediction[:, 1] if task == "binary" else prediction.max(axis=1)


EVAL_SCORES = "eval/scores.json"  # flat metrics DVC shows (`dvc exp show`, `dvc metrics`)
EVAL_PLOTS = "eval/plots"

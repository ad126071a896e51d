"""One definition of the monitoring score: the train-time reference profile, the server's
prediction log and `mlx monitor`'s own scoring agree on the same rows."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.serve.conftest import copy_project
from tests.serve.helpers import model_dir


def test_reference_profile_prediction_log_and_monitor_agree(serve, binary_project, tmp_path):
    from mlx.config.loader import load_project
    from mlx.data.validate import read_training_frame
    from mlx.metadata import load_metadata
    from mlx.monitor.scoring import score_table
    from mlx.train.split import split_frame

    project = copy_project(binary_project, tmp_path / "p")
    cfg = load_project(project / "mlops.yaml")
    meta = load_metadata(model_dir(project))
    # the score reference is the held-out split: what the model says on rows it never saw
    held_out = split_frame(read_training_frame(cfg), cfg.config).test
    features = [f.name for f in meta.features]
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in held_out[["row_id", *features]].to_dict("records")
    ]

    server = serve(project, "--workers", "1")
    with server.client() as c:
        for start in range(0, len(rows), 100):
            res = c.post("/predict", json=rows[start : start + 100])
            assert res.status_code == 200, res.text
    assert server.stop() == 0
    logs = sorted((project / "logs" / "predictions").rglob("*.parquet"))
    logged = pa.concat_tables([pq.read_table(f, columns=["_score"]) for f in logs])
    served = np.sort(logged["_score"].to_numpy())  # the log has no id column: compare sets
    assert len(served) == len(rows)

    # the reference profile mlx train stored is the profile of these very scores
    ref = meta.profile["score"]
    assert ref["count"] == len(rows)
    assert math.isclose(ref["mean"], float(served.mean()), rel_tol=1e-6)
    assert math.isclose(ref["min"], float(served.min()), rel_tol=1e-6)
    assert math.isclose(ref["max"], float(served.max()), rel_tol=1e-6)

    # and `mlx monitor`, scoring a plain file itself, computes the same number per row
    table = pa.Table.from_pandas(held_out.sort_values("row_id"), preserve_index=False)
    own, _ = score_table(
        model_dir(project) / "model.onnx", table, [f.to_dict() for f in meta.features], meta.task
    )
    # to float32 rounding: onnxruntime may sum a row's trees in another order per batch size
    np.testing.assert_allclose(np.sort(own), served, rtol=0, atol=5e-7)

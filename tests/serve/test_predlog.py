"""Prediction logs without a server: spool (worker side) → Parquet (log writer), sampling
by request, rotation by rows; and a worker that dies is replaced."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlx.serve.decode import decode_records
from mlx.serve.logwriter import ParquetLog, drain_spool
from mlx.serve.predlog import PredictionSpool, spool_dir
from mlx.serve.spec import ModelSpec
from tests.serve.helpers import ROWS, metadata, model_dir, onnx_outputs


def _model(project):
    from mlx.scoring.chunks import load_scoring_model

    return load_scoring_model(model_dir(project), threads=1)


def test_spool_to_parquet_keeps_only_sampled_requests(binary_project, tmp_path):
    model = _model(binary_project)
    rows = decode_records(ROWS, model.schema, False)
    outputs = model.predict(rows.num, rows.cats)
    spool = PredictionSpool(tmp_path, model, flush_seconds=60)
    # one batch of three requests (rows 0-1, 2, 3); the middle one is not sampled
    spool.add(rows.num, rows.cats, outputs, [("a", 2, True), ("b", 1, False), ("c", 1, True)], 1000.0, 1.25)  # fmt: skip
    spool.add(rows.num, rows.cats, outputs, [("d", 4, True)], 2000.0)  # no timing: null
    spool.close()
    files = list(spool_dir(tmp_path, model.name).glob("*.spool"))
    assert len(files) == 1
    meta = metadata(binary_project)
    from mlx.metadata import load_metadata

    typed = load_metadata(model_dir(binary_project))
    spec = ModelSpec.from_metadata(typed, model_dir(binary_project) / "model.onnx", meta["onnx"]["md5"], "v9", "abc", "")  # fmt: skip
    log = ParquetLog(tmp_path, spec, max_rows_per_file=5, max_file_seconds=60)
    assert drain_spool(spool_dir(tmp_path, model.name), log) == 7
    log.close_file()
    assert not list(spool_dir(tmp_path, model.name).iterdir())
    parts = sorted((tmp_path / model.name).glob("*/part-*.parquet"))
    assert len(parts) == 2  # 5 rows, then 2: rotated by row count
    table = pq.read_table(parts).to_pylist()
    assert [r["_request_id"] for r in table] == ["a", "a", "c", "d", "d", "d", "d"]
    assert [r["color"] for r in table] == ["red", "blue", None, "red", "blue", "purple", None]
    assert np.isnan(table[1]["x1"]) and table[0]["x1"] == 0.5
    assert [r["_ts"].timestamp() for r in table] == [1000.0] * 3 + [2000.0] * 4
    assert [r["_score_ms"] for r in table] == [1.25] * 3 + [None] * 4
    expected = onnx_outputs(binary_project, ROWS)
    assert [r["_label"] for r in table[3:]] == expected["label"].tolist()
    assert {(r["_model"], r["_version"], r["_commit"]) for r in table} == {(meta["name"], "v9", "abc")}  # fmt: skip


@pytest.mark.serve
def test_a_killed_worker_is_replaced(serve, binary_project):
    server = serve(binary_project, "--no-prediction-log")
    (worker,) = server.doc["workers"]
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 60
    with server.client() as c:
        while time.monotonic() < deadline:
            try:
                if c.post("/predict", json=ROWS).status_code == 200:
                    break
            except Exception:  # noqa: BLE001 - connection refused while it restarts
                time.sleep(0.2)
        else:
            raise AssertionError("no worker came back")
    assert "restarting" in server.stderr()
    assert server.stop() == 0


def test_block_variant_is_bit_identical_and_refuses_unknown_graphs(binary_project, numeric_project):
    import json

    import onnxruntime as ort

    from mlx.serve.model import ServedModel
    from mlx.serve.variant import block_variant

    for project in (binary_project, numeric_project):
        folder = model_dir(project)
        meta = json.loads((folder / "metadata.json").read_text())
        data = (folder / "model.onnx").read_bytes()
        variant = block_variant(data, meta["features"])
        assert variant is not None
        sess = ort.InferenceSession(variant)
        assert sess.get_inputs()[0].name == "mlx_numeric_block"
        assert block_variant(data, list(reversed(meta["features"]))) is None  # not this graph
    path = model_dir(binary_project).parent.parent / ".variant.onnx"
    path.write_bytes(block_variant((model_dir(binary_project) / "model.onnx").read_bytes(), metadata(binary_project)["features"]))  # fmt: skip
    meta = metadata(binary_project)
    spec = {"name": meta["name"], "onnx_path": "unused", "serving_path": str(path), "md5": meta["onnx"]["md5"], "features": meta["features"], "task": "binary", "classes": [0, 1], "id_column": "row_id"}  # fmt: skip
    model = ServedModel.load(spec)
    assert model.block and model.md5 == meta["onnx"]["md5"]
    rows = decode_records(ROWS, model.schema, False)
    label, probs = model.predict(rows.num, rows.cats)
    expected = onnx_outputs(binary_project, ROWS)
    assert np.array_equal(label, expected["label"]) and np.array_equal(
        probs, expected["probabilities"]
    )
    path.unlink()

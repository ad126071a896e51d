"""`mlx serve --batch`: CSV/Parquet in and out, chunked, ids kept, bad rows by number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlx.scoring.chunks import BadRowsError, load_scoring_model, score_chunk, score_table
from tests.serve.helpers import metadata, model_dir, onnx_outputs

pytestmark = pytest.mark.serve


def _frame(project, n=None) -> pd.DataFrame:
    frame = pd.read_csv(project / "data" / "train.csv", dtype={"color": str, "size": str})
    return frame if n is None else frame.head(n)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def test_csv_to_csv_keeps_ids_and_matches_the_session(cli, binary_project, tmp_path):
    out = tmp_path / "scored.csv"
    res = cli(
        "serve", "--batch", "data/train.csv", "--output", str(out), "--json", cwd=binary_project
    )
    assert res.exit_code == 0, res.output
    doc = res.json()
    frame = _frame(binary_project)
    assert doc["rows_in"] == doc["rows_out"] == len(frame) and doc["bad_row_count"] == 0
    assert not doc["careful"]
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["row_id", "label", "proba_0", "proba_1", "_score"]
    assert scored["row_id"].tolist() == frame["row_id"].tolist()
    expected = onnx_outputs(binary_project, _records(frame))
    assert scored["label"].tolist() == expected["label"].tolist()
    # the scorer runs one-thread sessions (row chunks on a pool); the reference session
    # uses all cores, so trees are summed in another order: float32 rounding apart
    np.testing.assert_allclose(
        scored["proba_1"], expected["probabilities"][:, 1], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(scored["_score"], scored["proba_1"])


def test_parquet_in_chunks_with_progress(binary_project, tmp_path):
    from mlx import api

    frame = _frame(binary_project)
    src = tmp_path / "in.parquet"
    frame.to_parquet(src)
    calls: list[tuple[int, int]] = []
    result = api.score_batch(
        src,
        tmp_path / "out.parquet",
        binary_project / "mlops.yaml",
        chunk_rows=128,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.rows_out == len(frame)
    assert [d for d, _ in calls] == [min(128 * i, len(frame)) for i in range(1, len(calls) + 1)]
    assert calls[-1] == (len(frame), len(frame)) and len(calls) == -(-len(frame) // 128)
    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored.schema.field("proba_1").type == pa.float32()
    expected = onnx_outputs(binary_project, _records(frame))
    assert scored.column("label").to_pylist() == expected["label"].tolist()
    assert scored.column("row_id").to_pylist() == frame["row_id"].tolist()


BAD_CSV = """row_id,x1,x2,color,size,extra
0,0.5,1.0,red,S,a
1,0.1,2.0,blue,M,b
2,abc,3.0,red,L,c
3,0.3,4.0,green,S,d
4,0.4,5.0,black,M,e
5,0.5,inf,red,L,f
6,0.6,7.0,red,S,g
7,0.7,8.0,red,M,h,surplus
8,0.8,9.0,blue,L,i
9,oops,1.0,blue,S,j
10,1.0,,,S,k
"""


def test_bad_rows_fail_with_row_numbers_and_write_nothing(cli, binary_project, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(BAD_CSV)
    out = tmp_path / "out.csv"
    res = cli("serve", "--batch", str(src), "--output", str(out), "--json", cwd=binary_project)
    assert res.exit_code == 1, res.output
    error = res.json()["error"]
    assert error["type"] == "BadRowsError"
    rows = {b["row"]: b for b in error["details"]["bad_rows"]}
    assert sorted(rows) == [2, 5, 7, 9]
    assert rows[2]["column"] == "x1" and rows[2]["value"] == "abc" and rows[2]["reason"] == "not a number"  # fmt: skip
    assert rows[5]["column"] == "x2" and rows[5]["reason"] == "infinite value"
    assert rows[7]["column"] is None and "expected 6 fields, got 7" in rows[7]["reason"]
    assert rows[9]["value"] == "oops"
    assert "row 2, column 'x1': not a number" in error["message"]
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def test_bad_rows_skipped_and_reported(cli, binary_project, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(BAD_CSV)
    out = tmp_path / "out.csv"
    res = cli("serve", "--batch", str(src), "--output", str(out), "--on-error", "skip", "--json", cwd=binary_project)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["careful"] and doc["rows_in"] == 11 and doc["rows_out"] == 7
    assert [b["row"] for b in doc["bad_rows"]] == [2, 5, 7, 9] and doc["bad_row_count"] == 4
    scored = pd.read_csv(out)
    assert scored["row_id"].tolist() == [0, 1, 3, 4, 6, 8, 10]
    good = pd.read_csv(src, on_bad_lines="skip").set_index("row_id").loc[[0, 1, 3, 4, 6, 8, 10]]
    good = good.reset_index().astype({"x1": float})
    expected = onnx_outputs(binary_project, _records(good))
    assert scored["label"].tolist() == expected["label"].tolist()
    human = cli("serve", "--batch", str(src), "--output", str(out), "--on-error", "skip", cwd=binary_project)  # fmt: skip
    assert "skipped 4 bad row(s)" in human.output and "not a number" in human.output


def test_parquet_text_column_and_missing_feature(cli, binary_project, tmp_path):
    table = pa.table(
        {
            "x1": pa.array(["1.5", " 2 ", "x", None, "true"]),
            "x2": pa.array([1.0, 2.0, 3.0, 4.0, 5.0]),
            "color": pa.array(["red", "blue", None, "red", "red"]),
            "size": pa.array([1, 2, 3, 4, 5]),  # integers used as category text
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    res = cli("serve", "--batch", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.parquet"), "--on-error", "skip", "--json", cwd=binary_project)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert [(b["row"], b["value"]) for b in doc["bad_rows"]] == [(2, "x")]
    scored = pq.read_table(tmp_path / "o.parquet")
    assert scored.column("_row").to_pylist() == [0, 1, 3, 4]  # no id column: input row numbers
    pq.write_table(table.drop(["x2"]), tmp_path / "missing.parquet")
    res = cli("serve", "--batch", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "m.csv"), "--json", cwd=binary_project)  # fmt: skip
    assert res.exit_code == 1 and "no column(s) 'x2'" in res.json()["error"]["message"]
    res = cli("serve", "--batch", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.txt"), cwd=binary_project)  # fmt: skip
    assert res.exit_code == 2 and "unknown file type" in res.output
    res = cli("serve", "--batch", str(tmp_path / "in.parquet"), cwd=binary_project)
    assert res.exit_code == 2 and "go together" in res.output


def test_score_table_api_for_partition_workers(binary_project):
    """What the Dask runner calls on a worker: a folder → model, a table → predictions."""
    model = load_scoring_model(model_dir(binary_project), threads=1)
    frame = _frame(binary_project, 50)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    scored = score_table(model, table)
    expected = onnx_outputs(binary_project, _records(frame))
    assert scored.column("label").to_pylist() == expected["label"].tolist()
    assert scored.column("row_id").to_pylist() == frame["row_id"].tolist()
    broken = table.set_column(1, "x1", pa.array(["bad"] * 50))
    with pytest.raises(BadRowsError) as info:
        score_table(model, broken, row_offset=1000)
    assert info.value.details["bad_row_count"] == 50
    assert info.value.details["bad_rows"][0]["row"] == 1000
    chunk = score_chunk(model, broken.slice(0, 3), row_offset=10)
    assert [b.row for b in chunk.bad] == [10, 11, 12] and chunk.table.num_rows == 0
    assert metadata(binary_project)["onnx"]["md5"] == model.md5


def test_rows_scored_on_a_thread_pool_equal_one_run(binary_project):
    """workers > 1: row chunks on a pool of one-thread runs, the same bytes as one run."""
    model = load_scoring_model(model_dir(binary_project), threads=1)
    frame = _frame(binary_project)
    big = pd.concat([frame] * (12_000 // len(frame) + 1), ignore_index=True)
    table = pa.Table.from_pandas(big, preserve_index=False)
    one = score_chunk(model, table).table
    pooled = score_chunk(model, table, workers=3).table
    assert pooled.num_rows == len(big) and pooled.equals(one)

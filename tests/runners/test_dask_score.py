"""`mlx serve REF --batch ... --runner NAME`: partitions scored on real Dask workers give
the same rows as local batch scoring."""

from __future__ import annotations

import pytest

from tests.conftest import run_mlx
from tests.runners.test_dask import add_runner
from tests.test_json_schemas import assert_matches

pytestmark = [pytest.mark.dask]


@pytest.fixture
def trained(cli, example_project, dask_cluster):
    add_runner(example_project, "cluster", dask_cluster.runner(partitions=3))
    assert cli("train", cwd=example_project).exit_code == 0
    return example_project


def _score(cli, project, src, dst, *extra):
    return cli("serve", "--batch", str(src), "--output", str(dst), "--json", *extra, cwd=project)


@pytest.mark.parametrize("out_format", ["parquet", "csv"])
def test_cluster_scoring_matches_local(cli, trained, tmp_path, out_format):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    src = trained / "data" / "train.csv"
    here, there = tmp_path / f"here.{out_format}", tmp_path / f"there.{out_format}"
    # one onnxruntime thread, as on each worker: multi-threaded sessions sum trees in
    # another order (differences ~1e-7); with the same threads the bytes agree exactly
    local = _score(cli, trained, src, here, "--threads", "1")
    assert local.exit_code == 0, local.output
    # a real `mlx` process: the CLI's own import set-up is part of what is tested
    res = run_mlx(
        "serve",
        "--batch",
        str(src),
        "--output",
        str(there),
        "--json",
        "--runner",
        "cluster",
        cwd=trained,
    )
    assert res.exit_code == 0, res.output
    doc = assert_matches(res, "serve", "batch")
    assert doc["runner"]["kind"] == "dask" and doc["runner"]["partitions"] >= 3
    assert doc["rows_in"] == doc["rows_out"] == 6000
    read = pq.read_table if out_format == "parquet" else pacsv.read_csv
    a, b = read(str(here)), read(str(there))
    assert a.column_names == b.column_names and a.num_rows == b.num_rows
    assert a.equals(b)


def test_bad_rows_get_global_row_numbers(cli, trained, tmp_path):
    import pandas as pd

    frame = pd.read_csv(trained / "data" / "train.csv")
    frame["tenure_months"] = frame["tenure_months"].astype(str)
    frame.loc[[10, 4321], "tenure_months"] = "twelve"
    src = tmp_path / "bad.csv"
    frame.to_csv(src, index=False)
    local = _score(cli, trained, src, tmp_path / "a.parquet", "--on-error", "skip")
    there = _score(
        cli, trained, src, tmp_path / "b.parquet", "--on-error", "skip", "--runner", "cluster"
    )
    assert local.exit_code == there.exit_code == 0, there.output
    assert [r["row"] for r in there.json()["bad_rows"]] == [10, 4321]
    assert there.json()["bad_rows"] == local.json()["bad_rows"]
    failed = _score(cli, trained, src, tmp_path / "c.parquet", "--runner", "cluster")
    # fail: stop at the first partition holding a bad row (local: the first chunk), write nothing
    assert failed.exit_code == 1 and "row 10" in failed.json()["error"]["message"]
    assert not (tmp_path / "c.parquet").exists()


def test_an_ssh_runner_cannot_batch_score(cli, trained, tmp_path):
    add_runner(trained, "box", {"kind": "ssh", "host": "127.0.0.1"})
    res = _score(
        cli, trained, trained / "data/train.csv", tmp_path / "x.parquet", "--runner", "box"
    )
    assert res.exit_code == 2 and "dask runner" in res.json()["error"]["message"]

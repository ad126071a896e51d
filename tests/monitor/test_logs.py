"""Prediction-log folders (docs/internals.md format): reading, --since, scores, labels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlx.errors import UsageError
from mlx.monitor.current import log_files, parse_since
from tests.monitor.conftest import CATEGORICAL, fake_scores

DAY1 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def write_logs(folder, frame, when, seq=0, model="churn", version="v0.1.0"):
    """One log file as `mlx serve` writes it: features as served + the _ columns."""
    n = len(frame)
    day = folder / model / when.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    cols = {}
    for name in frame.columns:
        if name in ("customer_id", "churned"):
            continue
        if name in CATEGORICAL:
            cols[name] = pa.array(
                [v if isinstance(v, str) else None for v in frame[name]], pa.string()
            )
        else:
            cols[name] = pa.array(frame[name].to_numpy(dtype="float32"), pa.float32())
    score = fake_scores(frame).astype("float32")
    ts = [when + timedelta(seconds=i) for i in range(n)]
    cols |= {
        "_request_id": pa.array(frame["customer_id"].tolist(), pa.string()),
        "_ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "_model": pa.array([model] * n, pa.string()),
        "_version": pa.array([version] * n, pa.string()),
        "_commit": pa.array(["abc123"] * n, pa.string()),
        "_label": pa.array((score >= 0.5).astype("int64"), pa.int64()),
        "_score": pa.array(score, pa.float32()),
    }
    ms = int(when.timestamp() * 1000)
    path = day / f"part-{ms}-4242-{seq}.parquet"
    pq.write_table(pa.table(cols), path)
    return path


def test_parse_since():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert parse_since("2026-03-01T06:30:00+02:00", now).hour == 6
    assert parse_since("2026-03-01T06:30Z", now) == datetime(2026, 3, 1, 6, 30, tzinfo=timezone.utc)
    with pytest.raises(UsageError):
        parse_since("yesterday", now)


def test_log_files_skip_old_days_and_temp_files(tmp_path, holdout):
    a = write_logs(tmp_path, holdout.iloc[:10], DAY1)
    b = write_logs(tmp_path, holdout.iloc[10:20], DAY2)
    (b.parent / ".part-tmp.parquet").write_bytes(b"partial")
    assert log_files(tmp_path) == [a, b]
    assert log_files(tmp_path, DAY2) == [b]


def test_logs_are_read_back_with_scores_and_since(cli, monitored, holdout):
    logs = monitored / "logs" / "predictions"
    write_logs(logs, holdout.iloc[:1000], DAY1, 0)
    write_logs(logs, holdout.iloc[1000:], DAY2, 0)
    res = cli("monitor", "--current", str(logs), "--json", cwd=monitored)
    assert res.exit_code == 0, res.output
    doc = res.json()
    cur = doc["current"]
    assert cur["kind"] == "logs" and cur["files"] == 2 and cur["rows"] == 2000
    assert cur["versions"] == ["v0.1.0"] and cur["from"].startswith("2026-03-01T10:00")
    assert doc["prediction"]["status"] == "ok"  # _score read from the logs
    assert doc["schema"]["extra"] == []  # _ columns are not "extra"
    res = cli("monitor", "--current", str(logs), "--since", "2026-03-02", "--json", cwd=monitored)
    cur = res.json()["current"]
    assert cur["files"] == 1 and cur["rows"] == 1000 and cur["since"].startswith("2026-03-02")
    res = cli(
        "monitor",
        "--current",
        str(logs),
        "--since",
        "2026-03-01T10:10:00Z",
        "--json",
        cwd=monitored,
    )
    assert res.json()["current"]["rows"] == 2000 - 600  # row filter on _ts inside a day


def test_prediction_drift_from_logged_scores(cli, monitored, holdout):
    logs = monitored / "logs"
    shifted = holdout.copy()
    shifted["monthly_charges"] += 0.6 * shifted["monthly_charges"].std()
    write_logs(logs, shifted, DAY1)
    res = cli("monitor", "--current", str(logs), "--json", cwd=monitored)
    assert res.exit_code == 1
    doc = res.json()
    assert doc["verdict"]["prediction_drift"] and doc["prediction"]["status"] == "drift"
    assert any(r.startswith("prediction drift") for r in doc["verdict"]["reasons"])


def test_labels_join_on_request_id(cli, monitored, holdout, tmp_path):
    logs = monitored / "logs"
    write_logs(logs, holdout, DAY1)
    labels = tmp_path / "labels.csv"
    holdout[["customer_id", "churned"]].iloc[:1500].to_csv(labels, index=False)
    res = cli("monitor", "--current", str(logs), "--labels", str(labels), "--json", cwd=monitored)
    perf = res.json()["performance"]
    assert perf["rows"] == 1500 and perf["unmatched"] == 500
    metrics = {m["metric"]: m for m in perf["metrics"]}
    assert {"auc", "log_loss", "brier", "accuracy", "f1"} <= set(metrics)
    assert metrics["auc"]["train"] == 0.8 and metrics["auc"]["change"] is not None
    assert 0.5 < metrics["auc"]["live"] < 1.0


def test_metric_degradation_counts_as_drift_when_configured(cli, monitored, holdout, tmp_path):
    cfg = monitored / "mlops.yaml"
    text = cfg.read_text() + "  thresholds:\n    metric_degradation: 0.01\n"
    cfg.write_text(text)
    logs = monitored / "logs"
    write_logs(logs, holdout, DAY1)
    labels = tmp_path / "labels.csv"
    flipped = holdout[["customer_id", "churned"]].assign(churned=1 - holdout["churned"])
    flipped.to_csv(labels, index=False)
    res = cli("monitor", "--current", str(logs), "--labels", str(labels), "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["verdict"]["performance_drift"] and "auc" in doc["performance"]["degraded"]


def test_empty_log_folder_is_an_environment_error(cli, monitored):
    (monitored / "logs").mkdir()
    res = cli("monitor", "--current", "logs", "--json", cwd=monitored)
    assert res.exit_code == 3 and "no prediction logs" in res.json()["error"]["message"]


def test_logs_with_an_all_null_batch_concatenate(cli, monitored, holdout):
    logs = monitored / "logs"
    write_logs(logs, holdout.iloc[:1900], DAY1, 0)
    path = write_logs(logs, holdout.iloc[1900:], DAY1, 1)
    table = pq.read_table(path)
    i = table.schema.get_field_index("age")
    table = table.set_column(i, "age", pa.nulls(len(table)))  # typed null in this file
    pq.write_table(table, path)
    res = cli("monitor", "--current", str(logs), "--json", cwd=monitored)
    assert res.json()["current"]["rows"] == 2000, res.output
    expected = (holdout["age"].iloc[:1900].isna().sum() + 100) / 2000
    age = {f["name"]: f for f in res.json()["features"]}["age"]
    assert np.isclose(age["stats"]["null_rate"], expected)

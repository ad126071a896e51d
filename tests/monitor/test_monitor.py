"""`mlx monitor` on files: no drift passes; each kind of failure is detected and named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def _write(root, frame, name="current.csv"):
    path = root / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _features(res):
    return {f["name"]: f for f in res.json()["features"]}


def test_no_drift_sample_passes(cli, monitored, holdout):
    path = _write(monitored, holdout)
    res = cli("monitor", "--current", str(path), "--json", cwd=monitored)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["ok"] and not doc["drift"] and doc["verdict"]["status"] == "ok"
    assert doc["verdict"]["drifted"] == []
    assert all(f["status"] == "ok" for f in doc["features"])
    assert doc["current"]["rows"] == 2000 and doc["reference"]["rows"] == 4000
    # people get a table and the verdict
    res = cli("monitor", "--current", str(path), cwd=monitored)
    assert res.exit_code == 0 and "NO DRIFT" in res.stdout and "monthly_charges" in res.stdout


def test_shifted_important_feature_is_dataset_drift(cli, monitored, holdout):
    std = holdout["monthly_charges"].std()
    holdout["monthly_charges"] += 0.5 * std
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["drift"] and doc["verdict"]["drifted"] == ["monthly_charges"]
    assert doc["features"][0]["name"] == "monthly_charges"  # ranked first
    feat = _features(res)["monthly_charges"]
    assert feat["status"] == "drift"
    assert feat["stats"]["mean_shift"] > 0.4
    assert any(r.startswith("Wasserstein") for r in feat["reasons"])
    assert "monthly_charges" in doc["verdict"]["reasons"][0]


def test_small_shift_of_minor_feature_is_named_but_not_dataset_drift(cli, monitored, holdout):
    holdout["age"] += 0.5 * holdout["age"].std()  # importance 0.05 < drift_share 0.3
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert not doc["drift"] and doc["verdict"]["drifted"] == ["age"]
    assert _features(res)["age"]["status"] == "drift"
    assert doc["verdict"]["drift_share"] == 0.05


def test_new_category_is_detected_and_named(cli, monitored, holdout):
    holdout.loc[holdout.index[:150], "payment_method"] = "crypto-wallet"
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    feat = _features(res)["payment_method"]
    assert feat["status"] == "quality"
    assert feat["stats"]["unseen"] == {"crypto-wallet": 150}
    assert any("crypto-wallet" in r for r in feat["reasons"])


def test_nan_flood_is_detected_and_named(cli, monitored, holdout):
    holdout.loc[holdout.index[::2], "total_charges"] = np.nan
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    doc = res.json()
    feat = _features(res)["total_charges"]
    assert feat["status"] == "quality" and feat["stats"]["null_rate"] > 0.5
    assert any(r.startswith("null rate") for r in feat["reasons"])
    assert doc["verdict"]["quality_failed"] and not doc["drift"]  # importance 0.06


def test_missing_column_is_detected_and_named(cli, monitored, holdout):
    frame = holdout.drop(columns=["region"]).assign(extra_col=1)
    res = cli(
        "monitor", "--current", str(_write(monitored, frame, "c.parquet")), "--json", cwd=monitored
    )
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["schema"]["missing"] == ["region"] and doc["schema"]["extra"] == ["extra_col"]
    assert doc["features"][0]["name"] == "region" and doc["features"][0]["status"] == "missing"
    assert "missing column(s): region" in doc["verdict"]["reasons"]


def test_type_change_and_out_of_range(cli, monitored, holdout):
    frame = holdout.astype({"tenure_months": "object"})
    frame.loc[frame.index[:40], "tenure_months"] = "twelve"
    frame.loc[frame.index[:100], "support_calls"] = 500
    res = cli("monitor", "--current", str(_write(monitored, frame)), "--json", cwd=monitored)
    assert res.exit_code == 1, res.output
    feats = _features(res)
    tenure = feats["tenure_months"]
    assert tenure["status"] == "quality"
    assert any("40 values are not numbers" in r and "twelve" in r for r in tenure["reasons"])
    calls = feats["support_calls"]
    assert any("outside the training range" in r for r in calls["reasons"])


def test_small_window_is_not_enough_data(cli, monitored, holdout):
    holdout = holdout.iloc[:100].copy()
    holdout["monthly_charges"] += 2 * holdout["monthly_charges"].std()
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["verdict"]["status"] == "insufficient"
    assert {f["status"] for f in doc["features"]} == {"insufficient"}


def test_thresholds_come_from_mlops_yaml(cli, monitored, holdout):
    cfg = monitored / "mlops.yaml"
    cfg.write_text(cfg.read_text() + "  min_rows: 50\n")  # appended under monitor:
    holdout = holdout.iloc[:300].copy()
    holdout["monthly_charges"] += 1.0 * holdout["monthly_charges"].std()
    res = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    assert res.json()["settings"]["min_rows"] == 50
    assert res.exit_code == 1 and _features(res)["monthly_charges"]["drifted"]


def test_reference_file_recomputes_the_profile(cli, monitored, holdout):
    ref = _write(monitored, holdout, "ref.csv")
    meta_path = monitored / "models" / "churn" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["profile"]
    meta_path.write_text(json.dumps(meta))
    res = cli("monitor", "--current", str(ref), "--json", cwd=monitored)
    assert res.exit_code == 2 and "--reference" in res.json()["error"]["hint"]
    res = cli("monitor", "--current", str(ref), "--reference", str(ref), "--json", cwd=monitored)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["reference"]["source"] == str(ref) and doc["reference"]["rows"] == 2000
    assert all(f["stats"]["psi"] < 1e-6 for f in doc["features"])


def test_default_current_and_labels_from_the_example(cli, monitored, tmp_path):
    # monitor.current is data/live.csv in the example: a shifted world
    res = cli("monitor", "--json", "--labels", "data/live_labels.csv", cwd=monitored)
    assert res.exit_code == 1, res.output
    doc = res.json()
    drifted = set(doc["verdict"]["drifted"])
    assert {"monthly_charges", "payment_method", "age"} <= drifted
    assert doc["performance"] is None or doc["performance"]["rows"] == 2000
    assert any("prediction drift skipped" in n for n in doc["notes"])


def test_summary_and_github_outputs(cli, monitored, holdout, tmp_path):
    holdout["monthly_charges"] += 0.5 * holdout["monthly_charges"].std()
    out, step = tmp_path / "gh_output", tmp_path / "gh_summary"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(step)}
    summary = tmp_path / "summary.md"
    res = cli(
        "monitor",
        "--current",
        str(_write(monitored, holdout)),
        "--summary",
        str(summary),
        env=env,
        cwd=monitored,
    )
    assert res.exit_code == 1, res.output
    lines = out.read_text().splitlines()
    assert "drift=true" in lines and "status=drift" in lines and "drifted=monthly_charges" in lines
    md = summary.read_text()
    assert md.startswith("## mlx monitor: churn: **DRIFT**")
    assert "| `monthly_charges` | drift |" in md
    assert step.read_text() == md


def test_unknown_model_folder_is_a_usage_error(cli, monitored, holdout):
    res = cli("monitor", "nowhere", "--current", "data/live.csv", "--json", cwd=monitored)
    assert res.exit_code == 2 and res.json()["error"]["type"] == "RefError"
    res = cli("monitor", "--current", "nope.csv", cwd=monitored)
    assert res.exit_code == 3


def test_csv_and_pandas_parquet_agree(cli, monitored, holdout):
    a = cli("monitor", "--current", str(_write(monitored, holdout)), "--json", cwd=monitored)
    b = cli(
        "monitor",
        "--current",
        str(_write(monitored, holdout, "c.parquet")),
        "--json",
        cwd=monitored,
    )
    fa, fb = _features(a), _features(b)
    for name in fa:
        assert fa[name]["stats"].get("psi") == fb[name]["stats"].get("psi"), name
    assert pd.Series([f["name"] for f in a.json()["features"]]).is_unique


def test_monitor_help_imports_nothing_heavy(example_project):
    from tests.test_cli import HEAVY, _imported_modules

    loaded = _imported_modules("monitor", "--help", cwd=example_project)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "pyarrow" not in loaded and "numpy" not in loaded


def test_monitoring_path_does_not_import_pandas(monitored, holdout):
    """pandas costs ~0.5 s of start-up; reading Parquet and the statistics avoid it."""
    import subprocess
    import sys

    holdout.to_parquet(monitored / "c.parquet", index=False)
    code = (
        "import sys, runpy\n"
        "sys.argv = ['mlx', 'monitor', '--current', 'c.parquet', '--json']\n"
        "try:\n    runpy.run_module('mlx', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('PANDAS', 'pandas' in sys.modules, file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=monitored, capture_output=True, text=True
    )
    assert "PANDAS False" in out.stderr, out.stderr[-2000:]
    assert json.loads(out.stdout)["verdict"]["status"] == "ok"

"""`mlx train`: three tasks, categorical features end to end, parity, reproducibility,
lineage in metadata, DVC tracking, commit, and every bad input named in the issue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git
from tests.helpers import config, interruptible, make_project, synthetic


def test_train_example_writes_tracked_model_with_lineage(cli, example_project):
    res = cli("train", "--json", cwd=example_project)
    assert res.exit_code == 0, res.output
    out = res.json()
    model = example_project / "models" / "churn"
    for name in (
        "model.onnx",
        "model.lgb.txt",
        "metadata.json",
        "model.onnx.dvc",
        "model.lgb.txt.dvc",
    ):
        assert (model / name).is_file(), name
    assert (
        git(example_project, "check-ignore", "models/churn/model.onnx") == "models/churn/model.onnx"
    )
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["data"]["path"] == "data/train.csv" and meta["data"]["tracked"] is True
    assert (
        meta["code"]["commit"] == git(example_project, "rev-parse", "HEAD")
        and meta["code"]["dirty"] is False
    )
    assert meta["classes"] == [0, 1]
    assert [f["name"] for f in meta["features"]][:2] == ["tenure_months", "monthly_charges"]
    assert "customer_id" not in [
        f["name"] for f in meta["features"]
    ]  # the id never becomes a feature
    assert {"plan", "contract"} <= {
        f["name"] for f in meta["features"] if f["kind"] == "categorical"
    }
    assert (
        meta["parity"]["max_abs_diff"] <= 1e-5
        and meta["parity"]["by_probe"]["unseen categories"] <= 1e-5
    )
    assert meta["metrics"]["auc"] > 0.75
    assert meta["split"]["train_rows"] + meta["split"]["test_rows"] == 6000
    assert set(meta["packages"]) >= {"lightgbm", "onnxruntime", "python"}
    assert meta["runner"]["kind"] == "local" and meta["runner"]["duration_s"] > 0
    assert abs(sum(meta["feature_importance"].values()) - 1) < 1e-3
    pointer = (model / "model.onnx.dvc").read_text()
    assert meta["onnx"]["md5"] in pointer and out["onnx_md5"] == meta["onnx"]["md5"]
    dvc_yaml = (example_project / "dvc.yaml").read_text()
    assert "artifacts:" in dvc_yaml and "path: models/churn/model.onnx" in dvc_yaml
    # nothing staged without --commit, and the output says what to commit
    assert git(example_project, "diff", "--cached", "--name-only") == ""
    assert any("git add" in s for s in out["next_steps"])


def test_commit_carries_metrics_and_onnx_is_byte_reproducible(cli, example_project, tmp_path):
    import shutil

    other = tmp_path / "again"
    shutil.copytree(example_project, other, symlinks=True)
    assert cli("train", "--commit", cwd=example_project).exit_code == 0
    message = git(example_project, "log", "-1", "--format=%s")
    assert message.startswith("Train churn: auc=0.8") and "log_loss=" in message
    assert git(example_project, "status", "--porcelain") == ""
    assert cli("train", cwd=other).exit_code == 0
    first = (example_project / "models/churn/model.onnx").read_bytes()
    assert first == (other / "models/churn/model.onnx").read_bytes()
    assert (example_project / "models/churn/model.lgb.txt").read_bytes() == (
        other / "models/churn/model.lgb.txt"
    ).read_bytes()


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_three_tasks_serve_what_lightgbm_predicts(cli, tmp_path, task):
    import lightgbm as lgb

    from mlx.train.export import session

    frame = synthetic(task)
    root = make_project(tmp_path / task, frame, config(task))
    res = cli("train", "--json", cwd=root)
    assert res.exit_code == 0, res.output
    meta = json.loads((root / "models/m/metadata.json").read_text())
    assert meta["task"] == task
    if task == "multiclass":
        assert meta["classes"] == ["high", "low", "mid"]
    # raw strings in, including an unseen category and missing values: ONNX == native
    rows = frame.drop(columns=["y", "row_id"]).head(40).copy()
    rows.loc[0, "color"] = "purple"
    rows.loc[1, "color"] = None
    rows.loc[2, "x1"] = np.nan
    sess = session((root / "models/m/model.onnx").read_bytes())
    inputs = {
        "x1": rows["x1"].to_numpy(np.float32).reshape(-1, 1),
        "x2": rows["x2"].to_numpy(np.float32).reshape(-1, 1),
        "color": rows["color"].fillna("").to_numpy(object).reshape(-1, 1),
        "size": rows["size"].to_numpy(object).reshape(-1, 1),
    }
    outputs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, inputs), strict=True))
    booster = lgb.Booster(model_file=str(root / "models/m/model.lgb.txt"))
    native_rows = rows.copy()
    for col, feat in (("color", meta["features"][2]), ("size", meta["features"][3])):
        known = native_rows[col].where(native_rows[col].isin(feat["categories"]))
        native_rows[col] = pd.Categorical(known, categories=feat["categories"])
    native = booster.predict(native_rows)
    if task == "regression":
        assert set(outputs) == {"prediction"} and outputs["prediction"].shape == (40, 1)
        np.testing.assert_allclose(outputs["prediction"][:, 0], native, rtol=1e-5)
    else:
        probs = outputs["probabilities"]
        expected = np.column_stack([1 - native, native]) if task == "binary" else native
        assert np.abs(probs - expected).max() <= 1e-5
        assert outputs["label"].shape == (40,)


def _train_code(cli, root) -> tuple[int, str]:
    res = cli("train", "--json", cwd=root)
    return res.exit_code, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("missing target", 1, "column present"),
        ("constant target", 1, "at least two classes"),
        ("rare class", 1, "needs at least 2 per class"),
        ("empty file", 1, "is empty"),
        ("huge categorical", 1, "levels (limit 50)"),
        ("infinite values", 1, "infinite values"),
        ("unknown param", 2, "not a LightGBM parameter"),
    ],
)
def test_bad_inputs(cli, tmp_path, case, code, message):
    frame = synthetic("multiclass" if case == "rare class" else "binary", n=300)
    cfg = config("multiclass" if case == "rare class" else "binary")
    if case == "missing target":
        frame = frame.drop(columns=["y"])
    elif case == "constant target":
        frame["y"] = 1
    elif case == "rare class":
        frame.loc[0, "y"] = "unicorn"
    elif case == "huge categorical":
        frame["color"] = [f"c{i}" for i in range(len(frame))]
        cfg["model"]["max_categories"] = 50
    elif case == "infinite values":
        frame.loc[3, "x2"] = np.inf
    elif case == "unknown param":
        cfg["model"]["params"]["num_leafs"] = 3
    root = make_project(tmp_path / "p", frame, cfg)
    if case == "empty file":
        (root / "data" / "train.csv").write_text("")
    exit_code, output = _train_code(cli, root)
    assert exit_code == code, output
    assert message in output
    assert not (root / "models" / "m" / "model.onnx").exists()
    if case == "unknown param":
        assert "num_leaves" in output  # did you mean


def test_interrupted_train_leaves_previous_model(cli, tmp_path):
    frame = synthetic("binary", n=3000)
    root = make_project(tmp_path / "p", frame, config("binary"))
    assert cli("train", cwd=root).exit_code == 0
    model = root / "models" / "m"
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    cfg = (root / "mlops.yaml").read_text().replace("num_iterations: 30", "num_iterations: 100000")
    (root / "mlops.yaml").write_text(cfg)
    exe = os.path.join(os.path.dirname(sys.executable), "mlx")
    proc = interruptible([exe, "train"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(root.glob("models/.m.staging-*")):
            time.sleep(0.05)
        time.sleep(2.0)  # well inside the boosting loop (100,000 rounds)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a 100,000-round train running after a failure
    assert proc.returncode == 130, err
    after = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    assert after == before
    assert not list(root.glob("models/.m.staging-*"))


def _train_on_two_values(tmp_path, low, high, seed: int) -> dict:
    """Train on a feature holding only ``low`` or ``high`` (the label says which)."""
    from mlx.config import parse_config
    from mlx.train.stage import run_train_stage

    rng = np.random.default_rng(seed)
    x = np.where(rng.uniform(size=400) < 0.5, low, high).astype(np.float32)
    frame = pd.DataFrame(
        {"x": x, "noise": rng.normal(size=400).astype(np.float32), "y": (x == high).astype(int)}
    )
    frame.to_parquet(tmp_path / "t.parquet")
    cfg = parse_config(
        "data: {train: t.parquet, target: y}\n"
        "model: {name: m, task: binary, params: {num_iterations: 5, min_data_in_leaf: 5}}\n"
    )
    return run_train_stage(cfg, tmp_path / "t.parquet", tmp_path / "out")


def test_float32_values_one_ulp_apart_route_as_in_lightgbm(tmp_path):
    """Two training values one float32 ulp apart put LightGBM's float64 threshold between
    them; the converter's nearest-float32 threshold would send the upper one the wrong
    way. The export floors thresholds, so parity holds on exactly those values."""
    from mlx.train.export import session

    low = np.nextafter(np.float32(1.0), np.float32(2.0))  # odd mantissa: the midpoint rounds up
    high = np.nextafter(low, np.float32(2.0))
    meta = _train_on_two_values(tmp_path, low, high, seed=3)
    assert meta.parity["max_abs_diff"] <= 1e-5
    sess = session((tmp_path / "out" / "model.onnx").read_bytes())
    probs = sess.run(
        None, {"x": np.array([[low], [high]], np.float32), "noise": np.zeros((2, 1), np.float32)}
    )[1]
    assert probs[0, 1] < 0.5 < probs[1, 1]


def test_float32_thresholds_keep_every_training_value_on_its_side():
    from mlx.train.thresholds import choose_float32

    # LightGBM's "just above a training value" threshold on double data: stay on f32(a)
    values = np.array([105.68, 105.69, 105.70])
    t = float(np.nextafter(105.69, np.inf))
    chosen = choose_float32(t, values)
    assert np.float32(105.69) <= chosen < np.float32(105.70)
    # float32 data one ulp apart, threshold at their midpoint: never round onto the upper one
    low = float(np.nextafter(np.float32(1.0), np.float32(2.0)))
    high = float(np.nextafter(np.float32(low), np.float32(2.0)))
    chosen = choose_float32((low + high) / 2, np.array([low, high]))
    assert chosen == low


def test_unseen_float32_values_between_training_values_route_as_in_lightgbm(tmp_path):
    """Training values three float32 ulps apart: LightGBM's threshold sits 1.5 ulps above
    the lower one, and its nearest float32 (ties to even) is the value 2 ulps up. A
    held-out row holding that value goes right in LightGBM; the ONNX threshold must be
    the float32 *below* the threshold for it to go right there too. Parity probes now
    place rows on both float32 values around every threshold, so train checks this."""
    from mlx.train.export import session
    from mlx.train.thresholds import probe_values

    f32 = np.float32
    ulps = [f32(1.0)]
    for _ in range(3):
        ulps.append(np.nextafter(ulps[-1], f32(2.0)))
    low, between, high = ulps[0], ulps[2], ulps[3]
    assert float(f32((float(low) + float(high)) / 2)) == float(between)  # rounds up onto it
    mid = (float(low) + float(high)) / 2
    assert float(between) in probe_values(mid, np.array([float(low), float(high)]))
    meta = _train_on_two_values(tmp_path, low, high, seed=5)
    assert meta.parity["max_abs_diff"] <= 1e-5
    sess = session((tmp_path / "out" / "model.onnx").read_bytes())
    rows = np.array([[low], [between], [high]], np.float32)
    probs = sess.run(None, {"x": rows, "noise": np.zeros((3, 1), np.float32)})[1]
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(tmp_path / "out" / "model.lgb.txt"))
    native = booster.predict(np.column_stack([rows[:, 0].astype(np.float64), np.zeros(3)]))
    assert probs[0, 1] < 0.5 < probs[1, 1]  # "between" goes right, with "high"
    np.testing.assert_allclose(probs[:, 1], native, atol=1e-5)


def test_float64_data_keeps_the_nearest_float32_threshold():
    """Decimal (float64) data: LightGBM's threshold just above -0.5426, halfway between
    the training values -0.5432 and -0.542, must keep a held-out -0.5426 on the left;
    f32(-0.5426) rounds up, so only the nearest float32 threshold does that."""
    from mlx.train.thresholds import choose_float32

    m = -0.5426
    t = float(np.nextafter(m, np.inf))
    chosen = choose_float32(t, np.array([-0.5432, -0.542]))
    assert float(np.float32(m)) <= chosen  # ONNX sends f32(m) left, as LightGBM sends m
    assert chosen == float(np.float32(t))

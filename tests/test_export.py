"""The direct LightGBM → ONNX exporter against LightGBM's own predictions.

Real boosters on numeric, categorical (a 300-level one too) and missing-heavy data, for
each task; checked on held-out rows, NaN everywhere, unseen categories, rows on the
split thresholds, raw scores and transformed outputs."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pandas as pd
import pytest

from mlx.errors import StageFailed
from mlx.train import export, fit, parity
from mlx.train.features import CATEGORICAL, NUMERIC, Feature, to_lightgbm_frame, to_onnx_inputs
from mlx.train.onnx_trees import UnsupportedModel
from mlx.train.thresholds import training_values

TOL = 1e-5
COLORS = ["red", "green", "blue", "black", "white"]


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """Numeric, zero-heavy, NaN-heavy and categorical columns with real signal."""
    rng = np.random.default_rng(seed)
    city_effect = np.random.default_rng(99).normal(0, 1.0, 300)
    city_code = rng.integers(0, 300, n)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": np.where(rng.random(n) < 0.4, np.nan, rng.uniform(0, 10, n).round(2)),
            "zeros": np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),
            "color": pd.Series(rng.choice(COLORS, n)).where(rng.random(n) > 0.1, None),
            "city": pd.Series([f"c{c:03d}" for c in city_code]).where(rng.random(n) > 0.05, None),
        }
    )
    signal = (
        frame["x1"]
        + 0.3 * frame["x2"].fillna(-3)
        + np.where(frame["zeros"] == 0, 1.0, frame["zeros"])
        + (frame["color"] == "red") * 1.5
        - frame["color"].isna() * 1.0
        + city_effect[city_code] * frame["city"].notna()
    )
    frame["signal"] = signal + rng.normal(0, 0.5, n)
    return frame


FEATURES = [
    Feature("x1", NUMERIC),
    Feature("x2", NUMERIC),
    Feature("zeros", NUMERIC),
    Feature("color", CATEGORICAL, tuple(sorted(COLORS[:4]))),  # "white" is never trained on
    Feature("city", CATEGORICAL, tuple(f"c{c:03d}" for c in range(300))),
]


def target(frame: pd.DataFrame, task: str) -> np.ndarray:
    s = frame["signal"].to_numpy()
    if task == "binary":
        return (s > np.median(s)).astype(int)
    if task == "multiclass":
        return np.digitize(s, np.quantile(s, [0.33, 0.66]))
    return s


def train(task: str, n: int = 4000, seed: int = 0, form: str | None = None, **params):
    frame = make_frame(n, seed)
    train_rows = frame[frame["color"] != "white"]
    y = target(train_rows, task)
    if params.get("objective") == "poisson":
        y = np.exp(y / 4)  # counts-like, non-negative
    full, rounds = fit.effective_params(
        {"num_leaves": 15, "min_data_per_group": 5, "cat_smooth": 1, **params},
        task,
        7,
        3 if task == "multiclass" else None,
    )
    categorical = [f.name for f in FEATURES if f.kind == CATEGORICAL]
    raw = fit.train_booster(to_lightgbm_frame(train_rows, FEATURES), y, full, 40, categorical)
    booster = fit.final_booster(raw)
    values = training_values(train_rows, FEATURES, booster)
    classes = [0, 1] if task == "binary" else ([0, 1, 2] if task == "multiclass" else None)
    model = export.to_onnx(booster, FEATURES, task, classes, "m", values, form=form)
    return booster, model, values


def eval_rows(seed: int = 1) -> pd.DataFrame:
    """Held-out rows plus NaN in each column, unseen and missing categories."""
    rows = make_frame(600, seed)
    rows.loc[0:49, "color"] = "white"  # unseen at train time
    rows.loc[50:99, "city"] = "never-seen"
    rows.loc[100:149, "city"] = None
    rows.loc[150:199, "color"] = None
    rows.loc[200:249, ["x1", "zeros"]] = np.nan
    rows.loc[250:299, "zeros"] = 0.0
    tiny = [1e-36, -1e-36, 1e-35, -1e-35, 2e-35, -2e-35, 1e-30, -0.0, 1e-38, 0]
    rows.loc[300:309, "zeros"] = [float(np.float32(v)) for v in tiny]  # as served (FP32)
    return rows


def with_raw_output(model: bytes) -> bytes:
    proto = onnx.load_from_string(model)
    proto.graph.output.append(onnx.helper.make_tensor_value_info(export.RAW, 1, None))
    return proto.SerializeToString()


@pytest.mark.parametrize("form", ["atoms", "member", "search"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_exported_graph_predicts_what_lightgbm_predicts(task, form):
    """Both graph forms: opset-5 BRANCH_MEMBER and the opset-3 fallback."""
    booster, model, values = train(task, form=form)
    rows = eval_rows()
    sess = export.session(with_raw_output(model))
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, to_onnx_inputs(rows, FEATURES)), strict=True))
    native_frame = to_lightgbm_frame(rows, FEATURES)
    raw = booster.predict(native_frame, raw_score=True).reshape(len(rows), -1)
    assert np.abs(out[export.RAW] - raw).max() <= TOL * max(1.0, np.abs(raw).max())
    onnx_pred, native = parity.predictions(export.session(model), booster, rows, FEATURES, task)
    diff = np.abs(onnx_pred - native)
    if task == "regression":
        diff = diff / np.maximum(1.0, np.abs(native))
    assert diff.max() <= TOL
    if task != "regression":
        assert (out["label"] == np.argmax(out["probabilities"], axis=1)).all()
        assert out["label"].shape == (len(rows),)
    # the checks cover categorical splits, unseen categories and NaN in them
    dump = booster.dump_model()
    assert any('"=="' in str(t) or "'=='" in str(t) for t in dump["tree_info"])


def test_parity_check_passes_with_all_probes():
    booster, model, values = train("binary")
    rows = make_frame(1000, 3)
    report = parity.check_parity(export.session(model), booster, rows, FEATURES, "binary", values)
    assert report.ok and set(report.by_probe) >= {
        "held-out",
        "on split thresholds",
        "missing values",
        "unseen categories",
    }


@pytest.mark.parametrize("form", ["atoms", "member", "search"])
@pytest.mark.parametrize("seed", [2, 3])
def test_zero_as_missing_routes_zeros_and_nan_the_default_way(seed, form):
    """missing_type Zero: a zero band whose default is not its natural side needs the
    three-way node (about a hundred of them here); rows at 0, ±1e-35 and NaN check it."""
    booster, model, _ = train("regression", zero_as_missing=True, seed=seed, form=form)
    types = set()

    def walk(node):
        if "split_feature" in node:
            types.add((node["missing_type"], node["default_left"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    assert ("Zero", True) in types or ("Zero", False) in types
    rows = eval_rows(4)
    onnx_pred, native = parity.predictions(
        export.session(model), booster, rows, FEATURES, "regression"
    )
    assert (np.abs(onnx_pred - native) / np.maximum(1, np.abs(native))).max() <= TOL


def test_same_booster_gives_identical_bytes():
    booster, model, values = train("multiclass")
    again = export.to_onnx(booster, FEATURES, "multiclass", [0, 1, 2], "m", values)
    assert model == again
    graph = onnx.load_from_string(model).graph
    ops = {n.op_type for n in graph.node}
    assert "TreeEnsemble" in ops and "Softmax" in ops  # categorical splits: opset 5
    tree = next(n for n in graph.node if n.op_type == "TreeEnsemble")
    modes = onnx.numpy_helper.to_array(next(a.t for a in tree.attribute if a.name == "nodes_modes"))
    assert set(modes.tolist()) == {0, 6}  # BRANCH_LEQ and BRANCH_MEMBER only
    assert any(i.name.startswith("mlx_atoms_") for i in graph.initializer)  # the atoms form
    post = next(a.i for a in tree.attribute if a.name == "post_transform")
    assert post == 0  # the link function is its own node
    numeric = export.to_onnx(booster, FEATURES, "multiclass", [0, 1, 2], "m", values, "search")
    tree = next(
        n for n in onnx.load_from_string(numeric).graph.node if n.op_type.startswith("Tree")
    )
    modes = next(a.strings for a in tree.attribute if a.name == "nodes_modes")
    assert set(modes) == {b"BRANCH_LEQ", b"LEAF"}  # the fallback: numeric tests only


def test_atoms_form_tests_only_small_sets_onnxruntime_runs_as_a_bitmask():
    """The default form for categorical models: every BRANCH_MEMBER set has < 31
    values in [0, 30] (onnxruntime's bitmask path), also on the 300-level column."""
    booster, model, _ = train("binary")
    graph = onnx.load_from_string(model).graph
    tree = next(n for n in graph.node if n.op_type == "TreeEnsemble")
    attrs = {a.name: a for a in tree.attribute}
    modes = onnx.numpy_helper.to_array(attrs["nodes_modes"].t)
    values = onnx.numpy_helper.to_array(attrs["membership_values"].t)
    sets = np.split(values, np.flatnonzero(np.isnan(values)) + 1)[:-1]
    assert len(sets) == int((modes == 6).sum()) > 0
    for s in sets:
        members = s[:-1]
        assert 0 < len(members) < 31 and members.min() >= 0 and members.max() <= 30
    tables = [i for i in graph.initializer if i.name.startswith("mlx_atoms_")]
    assert {t.data_type for t in tables} == {onnx.TensorProto.UINT8}  # cast when loaded
    city = onnx.numpy_helper.to_array(next(t for t in tables if t.name == "mlx_atoms_4"))
    assert city.shape[0] == 301 and (city[300] == 31).all()  # missing/unseen: in no set
    assert city.shape[1] > 1  # several groups of sets on the 300-level column


def test_atom_packing_is_exact_on_random_sets():
    """code ∈ S ⇔ atom(code) ∈ atoms(S) for every set, with up to 30 atoms a column."""
    from mlx.train import category_atoms
    from mlx.train.onnx_trees import Ensemble

    rng = np.random.default_rng(5)
    n = 4000
    ens = Ensemble()
    wanted = []
    for k in range(600):
        at = ens.add(k, 0, "BRANCH_MEMBER", float("nan"))
        size = int(rng.integers(1, 33))
        codes = sorted(set(rng.zipf(1.3, size) % n) | {int(rng.integers(0, n))})
        ens.members[at] = codes + [n + 5]  # out of range: dropped
        wanted.append((at, set(codes)))
    remaps = category_atoms.remap(ens, {0: n}, 3)
    (r,) = remaps
    assert r.first_column == 3 and r.table.shape[0] == n + 1
    assert (r.table[n] == category_atoms.NO_ATOM).all()
    for at, codes in wanted:
        column = ens.featureids[at] - r.first_column
        atoms = set(ens.members[at])
        assert len(atoms) <= category_atoms.MAX_ATOMS
        inside = {c for c in range(n) if r.table[c, column] in atoms}
        assert inside == codes
    assert r.table.max(initial=0) <= category_atoms.NO_ATOM
    assert r.table.shape[1] < 300  # packed: far fewer columns than sets


def test_linear_trees_are_refused_with_a_clear_message():
    frame = make_frame(500, 0)
    numeric = FEATURES[:3]
    full, _ = fit.effective_params({"linear_tree": True}, "regression", 7, None)
    booster = fit.train_booster(to_lightgbm_frame(frame, numeric), frame["signal"], full, 5, [])
    with pytest.raises(UnsupportedModel, match="linear trees"):
        export.to_onnx(booster, numeric, "regression", None, "m", {})


def test_binary_sigmoid_parameter_and_poisson_link():
    for task, params in (("binary", {"sigmoid": 0.7}), ("regression", {"objective": "poisson"})):
        booster, model, _ = train(task, **params)
        rows = eval_rows()
        onnx_pred, native = parity.predictions(export.session(model), booster, rows, FEATURES, task)
        assert (np.abs(onnx_pred - native) / np.maximum(1, np.abs(native))).max() <= TOL, params


def test_cross_check_against_onnxmltools_on_numeric_model():
    """onnxmltools remains a cross-check: same raw scores on numeric features."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    numeric = FEATURES[:3]
    frame = make_frame(3000, 5)
    full, _ = fit.effective_params({"num_leaves": 15}, "binary", 7, None)
    booster = fit.final_booster(
        fit.train_booster(to_lightgbm_frame(frame, numeric), target(frame, "binary"), full, 20, [])
    )
    ours = export.to_onnx(booster, numeric, "binary", [0, 1], "m", {})
    theirs = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[("x", FloatTensorType([None, 3]))],
        zipmap=False,
        target_opset=15,
    )
    rows = make_frame(500, 6)
    x = rows[["x1", "x2", "zeros"]].to_numpy(np.float32)
    their_p = export.session(theirs.SerializeToString()).run(None, {"x": x})[1]
    our_p = export.session(ours).run(None, to_onnx_inputs(rows, numeric))[1]
    assert np.abs(their_p - our_p).max() <= 1e-5


def test_thresholds_beyond_float32_range_export_without_overflow():
    """Issue 13: LightGBM writes a NaN-vs-rest split as threshold 1e300; choosing its
    float32 warned 'overflow encountered' (and rounded it to +inf, sending +inf left)."""
    from mlx.train.thresholds import choose_float32, probe_values

    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    missing = rng.random(n) < 0.3
    x[missing] = np.nan
    y = np.where(missing, 2, (x > 0).astype(int))
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=n)})
    features = [Feature("x", NUMERIC), Feature("z", NUMERIC)]
    full, _ = fit.effective_params({"num_leaves": 4}, "multiclass", 7, 3)
    booster = fit.final_booster(fit.train_booster(frame, y, full, 5, []))
    from mlx.train.thresholds import split_thresholds

    assert max(split_thresholds(booster)[0]) >= 1e300  # the case under test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = training_values(frame, features, booster)
        model = export.to_onnx(booster, features, "multiclass", [0, 1, 2], "m", values)
        report = parity.check_parity(
            export.session(model), booster, frame.head(500), features, "multiclass", values
        )
        assert choose_float32(1e300, values[0]) == float(np.finfo(np.float32).max)
        assert choose_float32(-1e300, values[0]) == -np.inf
        assert probe_values(1e300, values[0])
    assert report.ok


def test_parity_compares_a_bounded_sample_and_reuses_the_callers_scores(monkeypatch):
    """The held-out probe is a spread sample beyond HELD_OUT_SAMPLE rows (LightGBM's
    predict on every held-out row cost more than a tenth of the fit at 1M rows). The
    ONNX predictions the stage computed for the metrics are used for those rows when
    given: wrong ones are caught, so they really are compared."""
    monkeypatch.setattr(parity, "HELD_OUT_SAMPLE", 300)
    booster, model, values = train("binary")
    rows = make_frame(1000, 3)
    probes = parity.probe_frames(rows, FEATURES, booster, values)
    assert len(probes["held-out"]) == 300
    assert probes["held-out"]["x1"].iloc[-1] == rows["x1"].iloc[-1]  # spread to the end
    session = export.session(model)
    report = parity.check_parity(session, booster, rows, FEATURES, "binary", values)
    assert report.ok
    assert report.rows == sum(len(frame) for frame in probes.values())
    scored = parity.onnx_predictions(session, rows, FEATURES, "binary")
    assert parity.check_parity(session, booster, rows, FEATURES, "binary", values, scored).ok
    off = scored.copy()
    off[parity.held_out_rows(len(rows))[7]] += 0.01  # one sampled row, 1e-2 off
    with pytest.raises(StageFailed, match="disagree"):
        parity.check_parity(session, booster, rows, FEATURES, "binary", values, off)


def test_falls_back_with_a_warning_when_onnxruntime_lacks_opset5(monkeypatch):
    """An onnxruntime without the opset-5 TreeEnsemble gets the opset-3 form, and the
    export says so (an ExportFallback warning), still exact."""
    from mlx.train import tree_ensemble5

    assert tree_ensemble5.supported()  # the installed one runs it (the probe model works)
    monkeypatch.setattr(tree_ensemble5, "supported", lambda: False)
    with pytest.warns(export.ExportFallback, match="opset-5"):
        booster, model, _ = train("binary")
    graph = onnx.load_from_string(model).graph
    assert {n.op_type for n in graph.node} >= {"TreeEnsembleRegressor", "LabelEncoder"}
    onnx_pred, native = parity.predictions(
        export.session(model), booster, eval_rows(), FEATURES, "binary"
    )
    assert np.abs(onnx_pred - native).max() <= TOL


def test_random_forest_mode_averages_the_trees():
    """boosting=rf: LightGBM averages the trees (average_output); the graph divides."""
    booster, model, _ = train(
        "regression", boosting="rf", bagging_freq=1, bagging_fraction=0.7, feature_fraction=0.8
    )
    assert booster.dump_model()["average_output"]
    onnx_pred, native = parity.predictions(
        export.session(model), booster, eval_rows(), FEATURES, "regression"
    )
    assert (np.abs(onnx_pred - native) / np.maximum(1, np.abs(native))).max() <= TOL


def test_row_chunks_on_a_thread_pool_give_the_same_outputs_as_one_run():
    """The chunked scorer (parity's held-out scoring): identical arrays, in row order."""
    from mlx.util.rowchunks import run_in_chunks

    booster, model, _ = train("multiclass")
    rows = make_frame(9000, 8)
    feeds = to_onnx_inputs(rows, FEATURES)
    sess = export.session(model)
    whole = sess.run(None, feeds)
    chunked = run_in_chunks(lambda f: sess.run(None, f), feeds, workers=3, chunk_rows=1000)
    assert len(chunked) == len(whole) == 2
    for a, b in zip(whole, chunked, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_booster_arrays_match_lightgbms_own_dump(task):
    """The exporter reads the model text (mlx.train.booster_text), not dump_model(): every
    node's feature, threshold, category set, missing type, default side and every leaf
    value must be the ones LightGBM's JSON dump gives."""
    from mlx.train import booster_text

    booster, _, _ = train(task)
    arrays = booster_text.read(booster)
    dump = booster.dump_model()
    assert arrays.num_tree_per_iteration == dump["num_tree_per_iteration"]
    assert arrays.objective == dump["objective"]
    seen = {"categorical": 0, "numeric": 0, "leaf": 0}

    def walk(tree, node, i):
        if "leaf_value" in node:
            assert tree.leaf_value[~i] == node["leaf_value"]
            seen["leaf"] += 1
            return
        assert tree.split_feature[i] == node["split_feature"]
        if node["decision_type"] == "==":
            codes = sorted(int(c) for c in str(node["threshold"]).split("||"))
            assert tree.categories(i) == codes
            seen["categorical"] += 1
        else:
            assert not tree.is_categorical(i)
            # the dump writes ±inf as ±1e300 (LightGBM's AvoidInf); both route alike
            assert np.clip(tree.threshold[i], -1e300, 1e300) == node["threshold"]
            assert tree.missing_type(i) == node["missing_type"]
            assert tree.default_left(i) == node["default_left"]
            seen["numeric"] += 1
        walk(tree, node["left_child"], tree.left_child[i])
        walk(tree, node["right_child"], tree.right_child[i])

    for tree, info in zip(arrays.trees, dump["tree_info"], strict=True):
        walk(tree, info["tree_structure"], 0 if len(tree.split_feature) else -1)
    assert min(seen.values()) > 0


@pytest.mark.parametrize("form", ["atoms", "search"])
def test_one_leaf_trees_export_as_their_leaf(form):
    """A tree with no split (LightGBM writes only ``leaf_value``) scores its leaf: with
    leaves that need more rows than there are, every tree is one leaf."""
    booster, model, _ = train("regression", n=300, form=form, min_data_in_leaf=1000)
    from mlx.train import booster_text

    assert all(len(t.split_feature) == 0 for t in booster_text.read(booster).trees)
    rows = eval_rows(2)
    onnx_pred, native = parity.predictions(
        export.session(model), booster, rows, FEATURES, "regression"
    )
    assert np.abs(onnx_pred - native).max() <= TOL * max(1.0, np.abs(native).max())

"""The other candidate for categorical splits, measured by ``bench.export_bench``.

``ai.onnx.ml`` opset 5 ``TreeEnsemble``: categorical splits as ``BRANCH_MEMBER`` nodes on
the category code (LabelEncoder → float code, NaN for missing/unseen, which is not a
member and goes right as in LightGBM). Numeric splits as in the shipped exporter (NaN and
None missing types only: the bench data has no ``zero_as_missing``). The shipped exporter
(:mod:`mlx.train.export`) won the measurement; this stays as the benchmark's baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlx.train.features import CATEGORICAL, Feature
from mlx.train.thresholds import choose_float32

MODES = {"BRANCH_LEQ": 0, "BRANCH_MEMBER": 6}


def branch_member_to_onnx(booster, features: list[Feature], values: dict[int, Any]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    dump = booster.dump_model()
    n = {k: [] for k in ("feat", "mode", "split", "tid", "tleaf", "fid", "fleaf", "miss")}
    members: list[float] = []
    leaf_weights: list[float] = []
    roots: list[int] = []

    def leaf(node) -> tuple[int, int]:
        leaf_weights.append(float(node["leaf_value"]))
        return len(leaf_weights) - 1, 1

    def emit(node) -> tuple[int, int]:
        if "leaf_value" in node:
            return leaf(node)
        at = len(n["feat"])
        for k in n:
            n[k].append(0)
        n["feat"][at] = node["split_feature"]
        if node["decision_type"] == "==":
            n["mode"][at] = MODES["BRANCH_MEMBER"]
            n["split"][at] = float("nan")
            members.extend(float(c) for c in str(node["threshold"]).split("||"))
            members.append(float("nan"))
        else:
            t = float(node["threshold"])
            if node["missing_type"] not in ("NaN", "None"):
                raise ValueError("zero_as_missing is not in this candidate")
            n["mode"][at] = MODES["BRANCH_LEQ"]
            n["split"][at] = choose_float32(t, values.get(node["split_feature"]))
            n["miss"][at] = int(node["default_left"] if node["missing_type"] == "NaN" else 0.0 <= t)
        n["tid"][at], n["tleaf"][at] = emit(node["left_child"])
        n["fid"][at], n["fleaf"][at] = emit(node["right_child"])
        return at, 0

    for tree in dump["tree_info"]:
        root, is_leaf = emit(tree["tree_structure"])
        if is_leaf:  # a one-leaf tree: a split whose both sides are that leaf
            at = len(n["feat"])
            for k, v in (("feat", 0), ("mode", 0), ("split", 0.0), ("miss", 1)):
                n[k].append(v)
            for k in ("tid", "fid"):
                n[k].append(root)
            for k in ("tleaf", "fleaf"):
                n[k].append(1)
            root = at
        roots.append(root)

    f32 = np.float32
    trees = helper.make_node(
        "TreeEnsemble",
        ["x"],
        ["raw"],
        domain="ai.onnx.ml",
        name="trees",
        aggregate_function=1,
        post_transform=0,
        n_targets=1,
        tree_roots=roots,
        nodes_featureids=n["feat"],
        nodes_modes=numpy_helper.from_array(np.array(n["mode"], dtype=np.uint8), "nodes_modes"),
        nodes_splits=numpy_helper.from_array(np.array(n["split"], dtype=f32), "nodes_splits"),
        nodes_truenodeids=n["tid"],
        nodes_trueleafs=n["tleaf"],
        nodes_falsenodeids=n["fid"],
        nodes_falseleafs=n["fleaf"],
        nodes_missing_value_tracks_true=n["miss"],
        membership_values=numpy_helper.from_array(np.array(members, dtype=f32), "members"),
        leaf_targetids=[0] * len(leaf_weights),
        leaf_weights=numpy_helper.from_array(np.array(leaf_weights, dtype=f32), "leaf_weights"),
    )
    inputs, nodes, concat = [], [], []
    for i, f in enumerate(features):
        if f.kind == CATEGORICAL:
            inputs.append(helper.make_tensor_value_info(f.name, TensorProto.STRING, [None, 1]))
            nodes.append(
                helper.make_node(
                    "LabelEncoder",
                    [f.name],
                    [f"code_{i}"],
                    domain="ai.onnx.ml",
                    keys_strings=list(f.categories),
                    values_floats=[float(k) for k in range(len(f.categories))],
                    default_float=float("nan"),
                )
            )
            concat.append(f"code_{i}")
        else:
            inputs.append(helper.make_tensor_value_info(f.name, TensorProto.FLOAT, [None, 1]))
            concat.append(f.name)
    one = numpy_helper.from_array(np.array([1.0], dtype=f32), "one")
    nodes += [
        helper.make_node("Concat", concat, ["x"], axis=1),
        trees,
        helper.make_node("Sigmoid", ["raw"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
    ]
    graph = helper.make_graph(nodes, "member", inputs, outputs, [one])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 5)]
    )
    model.ir_version = 8
    return model.SerializeToString(deterministic=True)

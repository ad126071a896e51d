"""The ensemble as one ``ai.onnx.ml`` opset-5 ``TreeEnsemble`` node.

Opset 5 has categorical splits built in (``BRANCH_MEMBER``, the set in
``membership_values``); measured in ``bench/export_bench.py`` it scores the
categorical-heavy table faster than LightGBM, where the opset-3 form (code-range
searches, :mod:`mlx.train.onnx_trees`) and onnxmltools' ``BRANCH_EQ`` chains are several
times slower. onnxruntime only runs it from 1.20 or so: :func:`supported` asks the
installed one, and the exporter falls back to the opset-3 form (with a warning) when not.

Leaves are a separate table here (``nodes_trueleafs``/``nodes_falseleafs`` say whether
a child index points to a leaf); a one-leaf tree gets a split whose two sides are that
leaf, since ``tree_roots`` must point to a node.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlx.train.onnx_trees import Ensemble

MODES = {"BRANCH_LEQ": 0, "BRANCH_MEMBER": 6}
ML_OPSET = 5


def attributes(ens: Ensemble, n_targets: int) -> dict[str, Any]:
    from onnx import numpy_helper

    where = {(t, n): at for at, (t, n) in enumerate(zip(ens.treeids, ens.nodeids, strict=True))}
    weight = {
        where[(t, n)]: (target, w)
        for t, n, target, w in zip(
            ens.target_treeids, ens.target_nodeids, ens.target_ids, ens.target_weights, strict=True
        )
    }
    node_index: dict[int, int] = {}
    leaf_index: dict[int, int] = {}
    for at, mode in enumerate(ens.modes):
        (leaf_index if mode == "LEAF" else node_index)[at] = len(
            leaf_index if mode == "LEAF" else node_index
        )
    leaf_targets = [weight[at][0] for at in leaf_index]
    leaf_weights = [weight[at][1] for at in leaf_index]
    cols: dict[str, list] = {k: [] for k in ("feat", "mode", "split", "t", "tl", "f", "fl", "miss")}
    members: list[float] = []

    def child(tree: int, node_id: int) -> tuple[int, int]:
        at = where[(tree, node_id)]
        return (leaf_index[at], 1) if at in leaf_index else (node_index[at], 0)

    for at in node_index:
        tree = ens.treeids[at]
        cols["feat"].append(ens.featureids[at])
        cols["mode"].append(MODES[ens.modes[at]])
        cols["split"].append(ens.values[at])
        cols["miss"].append(ens.missing_true[at])
        for key, node_id in (("t", ens.truenodeids[at]), ("f", ens.falsenodeids[at])):
            index, is_leaf = child(tree, node_id)
            cols[key].append(index)
            cols[key + "l"].append(is_leaf)
        if at in ens.members:
            members += [float(c) for c in ens.members[at]] + [float("nan")]
    roots = []
    for at, node_id in enumerate(ens.nodeids):
        if node_id != 0:
            continue
        if at in node_index:
            roots.append(node_index[at])
            continue
        roots.append(len(cols["feat"]))  # a one-leaf tree
        for key, value in (("feat", 0), ("mode", 0), ("split", 0.0), ("miss", 1)):
            cols[key].append(value)
        for key in ("t", "f"):
            cols[key].append(leaf_index[at])
            cols[key + "l"].append(1)
    f32 = np.float32
    return {
        "aggregate_function": 1,  # SUM
        "post_transform": 0,  # NONE: the link function is its own node
        "n_targets": n_targets,
        "tree_roots": roots,
        "nodes_featureids": cols["feat"],
        "nodes_modes": numpy_helper.from_array(np.array(cols["mode"], np.uint8), "nodes_modes"),
        "nodes_splits": numpy_helper.from_array(np.array(cols["split"], f32), "nodes_splits"),
        "nodes_truenodeids": cols["t"],
        "nodes_trueleafs": cols["tl"],
        "nodes_falsenodeids": cols["f"],
        "nodes_falseleafs": cols["fl"],
        "nodes_missing_value_tracks_true": cols["miss"],
        "membership_values": numpy_helper.from_array(np.array(members, f32), "members"),
        "leaf_targetids": leaf_targets,
        "leaf_weights": numpy_helper.from_array(np.array(leaf_weights, f32), "leaf_weights"),
    }


@functools.cache
def supported() -> bool:
    """Whether the installed onnxruntime runs a ``TreeEnsemble`` with ``BRANCH_MEMBER``
    (and gets it right on a five-row check, 31 included: the ``"atoms"`` form's value
    for "in no set", :data:`mlx.train.category_atoms.NO_ATOM`)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        ens = Ensemble()
        root = ens.add(0, 0, "BRANCH_MEMBER", float("nan"))
        ens.members[root] = [1, 3]
        for value in (1.0, 2.0):
            leaf = ens.add(0)
            ens.target_treeids.append(0)
            ens.target_nodeids.append(ens.nodeids[leaf])
            ens.target_ids.append(0)
            ens.target_weights.append(value)
        ens.link(root, 1, 2, False)
        node = helper.make_node(
            "TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attributes(ens, 1)
        )
        graph = helper.make_graph(
            [node],
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 5)],
        )
        model.ir_version = 8
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        x = np.array([[1.0], [2.0], [np.nan], [31.0], [3.0]], dtype=np.float32)
        return sess.run(None, {"x": x})[0][:, 0].tolist() == [1.0, 2.0, 2.0, 2.0, 1.0]
    except Exception:  # noqa: BLE001 - any failure means: not usable here
        return False

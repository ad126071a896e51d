"""A serving variant of the model graph: numeric features as one ``[N, n_numeric]`` input.

The graph `mlx train` writes takes one ``[N, 1]`` input per feature and concatenates them
(``mlx_concat``) before the trees. Feeding 30 separate tensors costs onnxruntime ~65 µs
per call, more than scoring a 16-row batch (docs/benchmarks.md). The variant takes the
numeric features as one block (categorical inputs and their LabelEncoders unchanged)
and rebuilds the trees' input with one Concat + Gather, so the trees see exactly the
same values in the same order and the outputs are bit-identical; the parent checks
that on sample rows before workers use it, and falls back to the original graph if
the graph is not the shape expected or the outputs differ in any bit.

Built in the parent process (it needs ``onnx``); workers just load the bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlx.serve.model import BLOCK_INPUT, CATEGORICAL

CONCAT = "mlx_concat"


def block_variant(model_bytes: bytes, features: list[dict[str, Any]]) -> bytes | None:
    """The variant's bytes, or None when it does not apply or is not exact."""
    numeric = [f["name"] for f in features if f["kind"] != CATEGORICAL]
    if len(numeric) < 2 or BLOCK_INPUT in {f["name"] for f in features}:
        return None
    try:
        variant = _rewrite(model_bytes, features, numeric)
    except (ValueError, KeyError, IndexError):
        return None
    return (
        variant if variant is not None and _same_outputs(model_bytes, variant, features) else None
    )


def _rewrite(
    model_bytes: bytes, features: list[dict[str, Any]], numeric: list[str]
) -> bytes | None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    concat = [n for n in graph.node if n.name == CONCAT and n.op_type == "Concat"]
    if len(concat) != 1 or len(concat[0].input) != len(features):
        return None
    concat = concat[0]
    names = [f["name"] for f in features]
    for name, kind, source in zip(names, (f["kind"] for f in features), concat.input, strict=True):
        if kind != CATEGORICAL and source != name:
            return None
    # Concat(block, codes...) puts numeric columns first: Gather puts them back in order
    cat_sources = [src for f, src in zip(features, concat.input, strict=True) if f["kind"] == CATEGORICAL]  # fmt: skip
    order, n_num, k = [], 0, 0
    for f in features:
        if f["kind"] == CATEGORICAL:
            order.append(len(numeric) + k)
            k += 1
        else:
            order.append(n_num)
            n_num += 1
    target = concat.output[0]
    if not cat_sources:
        new_nodes = [helper.make_node("Identity", [BLOCK_INPUT], [target], name=CONCAT)]
        inits = []
    else:
        joined = f"{CONCAT}/joined"
        new_nodes = [
            helper.make_node("Concat", [BLOCK_INPUT, *cat_sources], [joined], axis=1, name=CONCAT),
            helper.make_node(
                "Gather", [joined, f"{CONCAT}/order"], [target], axis=1, name=f"{CONCAT}/order"
            ),  # fmt: skip
        ]
        inits = [numpy_helper.from_array(np.array(order, dtype=np.int64), f"{CONCAT}/order")]
    position = list(graph.node).index(concat)
    nodes = list(graph.node)
    nodes[position : position + 1] = new_nodes
    inputs = [helper.make_tensor_value_info(BLOCK_INPUT, TensorProto.FLOAT, [None, len(numeric)])]
    inputs += [i for i in graph.input if i.name not in set(numeric)]
    new_graph = helper.make_graph(
        nodes, graph.name, inputs, list(graph.output), [*graph.initializer, *inits]
    )
    new = helper.make_model(new_graph, opset_imports=list(model.opset_import))
    new.ir_version = model.ir_version
    onnx.checker.check_model(new)
    return new.SerializeToString()


def _same_outputs(original: bytes, variant: bytes, features: list[dict[str, Any]]) -> bool:
    """Both graphs on sample rows (random values, zeros, missing, every category, an
    unseen one): every output must be bit-identical."""
    from mlx.serve.model import Schema, ServedModel, make_session

    schema = Schema(features)
    rng = np.random.default_rng(0)
    n = 256
    num = rng.normal(size=(schema.n_num, n)) * rng.choice([0.1, 1, 100], size=(schema.n_num, 1))
    num = num.astype(np.float32)
    num[:, :8] = 0
    num[:, 8:16] = np.nan
    cats = []
    for f in schema.categorical:
        levels = sorted(f.categories) + ["", "never-seen-category"]
        cats.append([levels[i % len(levels)] for i in range(n)])
    outs = []
    for data in (original, variant):
        sess = make_session(data, 1)
        model = ServedModel.__new__(ServedModel)
        model.session, model.schema = sess, schema
        model._init_feeds()
        outs.append(sess.run(None, model.feeds(num, cats)))
    return all(
        a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(outs[0], outs[1], strict=True)
    )

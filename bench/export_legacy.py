"""Today's exporter (mlx before the direct one), kept for the benchmark only.

onnxmltools converts the trees (``ai.onnx.ml`` opset 2, categorical splits as chains of
``BRANCH_EQ`` nodes); mlx puts a LabelEncoder per categorical feature in front and
re-chooses the float32 thresholds. Tests cross-check the new exporter against
onnxmltools directly; nothing in ``mlx`` imports this.
"""

from __future__ import annotations

from typing import Any

from mlx import __version__
from mlx.model_files import OUTPUT_LABEL, OUTPUT_PREDICTION, OUTPUT_PROBABILITIES
from mlx.train.export import preprocessing
from mlx.train.features import Feature
from mlx.train.thresholds import fix_tree_thresholds

ML_DOMAIN = "ai.onnx.ml"
TARGET_OPSET = 15
ML_OPSET = 2

CORE_INPUT = "mlx_features"


def legacy_to_onnx(
    booster,
    features: list[Feature],
    task: str,
    classes: list | None,
    name: str,
    train_values: dict[int, Any] | None = None,
) -> bytes:
    """The ONNX model; ``train_values`` (distinct numeric training values by feature
    index) lets the float32 thresholds route every training value as LightGBM does."""
    import sys

    import onnx
    import onnxmltools

    # onnxmltools recurses once per BRANCH_EQ of a categorical chain: deep on this data
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))
    from onnx import helper
    from onnxmltools.convert.common.data_types import FloatTensorType

    core = onnxmltools.convert_lightgbm(
        booster,
        name=name,
        initial_types=[(CORE_INPUT, FloatTensorType([None, len(features)]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    fix_tree_thresholds(core.graph, booster, train_values or {})
    nodes, initializers = _prefixed_core(core.graph)

    inputs, prep = preprocessing(features, CORE_INPUT)

    outputs, tail = _outputs(core.graph, task, len(classes or []))
    graph = helper.make_graph([*prep, *nodes, *tail], f"mlx_{name}", inputs, outputs, initializers)
    opsets = {op.domain: op.version for op in core.opset_import}
    opsets[""] = max(opsets.get("", 1), 11)
    opsets[ML_DOMAIN] = max(opsets.get(ML_DOMAIN, 1), ML_OPSET)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="mlx",
        producer_version=__version__,
        doc_string="",
    )
    model.ir_version = core.ir_version
    model.model_version = 1
    helper.set_model_props(model, {"mlx.name": name, "mlx.task": task})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def _prefixed_core(graph) -> tuple[list, list]:
    """The converter's nodes with internal tensor names prefixed, so no feature column
    name can collide with them."""
    keep = {CORE_INPUT, *(o.name for o in graph.output)}

    def rename(tensor: str) -> str:
        return tensor if tensor in keep or not tensor else f"mlx_core/{tensor}"

    nodes = []
    for i, node in enumerate(graph.node):
        new = type(node)()
        new.CopyFrom(node)
        new.name = f"mlx_core/{i}/{node.name or node.op_type}"
        new.input[:] = [rename(t) for t in node.input]
        new.output[:] = [rename(t) for t in node.output]
        nodes.append(new)
    initializers = []
    for init in graph.initializer:
        new = type(init)()
        new.CopyFrom(init)
        new.name = rename(init.name)
        initializers.append(new)
    return nodes, initializers


def _outputs(graph, task: str, n_classes: int) -> tuple[list, list]:
    """Graph outputs with clean names and batch-sized shapes (plus renaming nodes)."""
    from onnx import TensorProto, helper

    names = [o.name for o in graph.output]
    if task == "regression":
        (raw,) = names
        tail = (
            []
            if raw == OUTPUT_PREDICTION
            else [helper.make_node("Identity", [raw], [OUTPUT_PREDICTION], name="mlx_prediction")]
        )
        return [
            helper.make_tensor_value_info(OUTPUT_PREDICTION, TensorProto.FLOAT, [None, 1])
        ], tail
    if names != [OUTPUT_LABEL, OUTPUT_PROBABILITIES]:
        raise RuntimeError(f"unexpected converter outputs {names}")
    return [
        helper.make_tensor_value_info(OUTPUT_LABEL, TensorProto.INT64, [None]),
        helper.make_tensor_value_info(OUTPUT_PROBABILITIES, TensorProto.FLOAT, [None, n_classes]),
    ], []

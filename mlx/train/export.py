"""LightGBM → ONNX with the preprocessing inside the graph, written by mlx itself.

The graph, from the raw columns to the outputs:

1. one input per feature column (FP32, or strings for categorical features); each
   categorical feature goes through an ``ai.onnx.ml.LabelEncoder`` that maps the
   training categories to LightGBM's codes (anything else, missing included, to NaN),
   then ``mlx_concat`` puts every feature in one ``[N, F]`` matrix;
2. the trees giving LightGBM's raw score per target: numeric splits as ``BRANCH_LEQ``;
   categorical ones, when the model has any, as small ``BRANCH_MEMBER`` tests on
   derived columns a ``Gather`` computes once per row (opset-5 ``TreeEnsemble``,
   :mod:`mlx.train.category_atoms`), else as searches over code ranges in an opset-3
   ``TreeEnsembleRegressor`` (:mod:`mlx.train.onnx_trees`);
3. the link function in its own nodes (``Sigmoid``, ``Softmax``, ``Exp``), never the
   ensemble's ``post_transform``; the label is the ``ArgMax`` of the probabilities.

Everything is built in a fixed order and serialised deterministically, so the same
booster gives the same bytes. onnxmltools is not used (tests cross-check against it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlx import __version__
from mlx.model_files import OUTPUT_LABEL, OUTPUT_PREDICTION, OUTPUT_PROBABILITIES
from mlx.train.features import CATEGORICAL, Feature

if TYPE_CHECKING:
    import lightgbm as lgb

    from mlx.train.booster_text import BoosterText

ML_DOMAIN = "ai.onnx.ml"
TARGET_OPSET = 15
ML_OPSET = 3  # LabelEncoder-2 (keys_strings → values_int64s), TreeEnsembleRegressor-3
IR_VERSION = 8
CONCAT = "mlx_concat"  # the serving variant (mlx/serve/variant.py) rewrites this node
TREES_INPUT = "mlx_trees_input"
BASE_INPUT = "mlx_features"  # the "atoms" form: features, then their derived columns
RAW = "mlx_raw_score"

IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
EXP = {"poisson", "gamma", "tweedie"}
SIGMOID = {"binary", "cross_entropy", "multiclassova"}


def to_onnx(
    booster: lgb.Booster,
    features: list[Feature],
    task: str,
    classes: list | None,
    name: str,
    train_values: dict[int, Any] | None = None,
    form: str | None = None,
) -> bytes:
    """The ONNX model; ``train_values`` (training values next to each split threshold,
    by feature index) lets the float32 thresholds route them as LightGBM does.

    ``form``: ``"atoms"`` (opset-5 ``TreeEnsemble``; each categorical split a small
    ``BRANCH_MEMBER`` test on a derived column, :mod:`mlx.train.category_atoms`),
    ``"member"`` (opset 5, ``BRANCH_MEMBER`` on the category code itself) or ``"search"``
    (opset-3 ``TreeEnsembleRegressor``, categorical splits as code-range searches). By
    default: ``"search"`` when no split is categorical (the form numeric models have
    always had), else ``"atoms"`` when the installed onnxruntime runs it, else
    ``"search"`` with an :class:`ExportFallback` warning.

    Raises :class:`mlx.train.onnx_trees.UnsupportedModel` for boosters it cannot
    reproduce exactly (linear trees, unknown objectives)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from mlx.train import booster_text, onnx_trees, tree_ensemble5

    model = booster_text.read(booster)
    onnx_trees.check_supported(model)
    link = _link(model.objective)
    form = form or _default_form(model)

    n_categories = {i: len(f.categories) for i, f in enumerate(features) if f.kind == CATEGORICAL}
    member = form in ("member", "atoms")
    ensemble = onnx_trees.compile_trees(model, n_categories, train_values or {}, member)
    initializers: list[Any] = []
    if form == "atoms":
        from mlx.train import category_atoms

        remaps = category_atoms.remap(ensemble, n_categories, len(features))
        inputs, nodes = preprocessing(features, BASE_INPUT, codes="int64")
        extra, initializers = _derived_columns(remaps, BASE_INPUT, TREES_INPUT)
        nodes += extra
    else:
        inputs, nodes = preprocessing(features, TREES_INPUT)
    n_targets = model.num_tree_per_iteration
    op, attributes = (
        ("TreeEnsemble", tree_ensemble5.attributes(ensemble, n_targets))
        if member
        else ("TreeEnsembleRegressor", ensemble.attributes(n_targets))
    )
    nodes.append(
        helper.make_node(op, [TREES_INPUT], [RAW], domain=ML_DOMAIN, name="mlx_trees", **attributes)
    )
    if model.average_output:
        per_iteration = max(1, len(model.trees) // n_targets)
        initializers.append(
            numpy_helper.from_array(np.array([per_iteration], dtype=np.float32), "mlx_iterations")
        )
        nodes.append(
            helper.make_node("Div", [RAW, "mlx_iterations"], [RAW + "/avg"], name="mlx_average")
        )
        raw = RAW + "/avg"
    else:
        raw = RAW
    tail, tail_inits, outputs = _outputs(raw, task, link, len(classes or []))
    graph = helper.make_graph(
        [*nodes, *tail], f"mlx_{name}", inputs, outputs, [*initializers, *tail_inits]
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", TARGET_OPSET),
            helper.make_opsetid(ML_DOMAIN, tree_ensemble5.ML_OPSET if member else ML_OPSET),
        ],
        producer_name="mlx",
        producer_version=__version__,
        doc_string="",
    )
    model.ir_version = IR_VERSION
    model.model_version = 1
    helper.set_model_props(model, {"mlx.name": name, "mlx.task": task})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


class ExportFallback(UserWarning):
    """The faster graph form needs an operator the installed onnxruntime lacks."""


def preprocessing(
    features: list[Feature], output: str, codes: str = "float"
) -> tuple[list[Any], list[Any]]:
    """The graph's inputs (one ``[N, 1]`` per feature, FP32 or string) and the nodes that
    turn them into the ``[N, n_features]`` float matrix ``output``: a LabelEncoder per
    categorical feature, then a Concat.

    ``codes="float"``: the LabelEncoder gives the code as a float, NaN for missing and
    unseen categories. ``codes="int64"``: it gives ``mlx_code_<i>`` as int64 with
    ``n_categories`` for missing and unseen (the ``"atoms"`` form's Gather index), cast
    to float for the matrix."""
    from onnx import TensorProto, helper

    inputs, nodes, concat_inputs = [], [], []
    for i, f in enumerate(features):
        if f.kind != CATEGORICAL:
            inputs.append(helper.make_tensor_value_info(f.name, TensorProto.FLOAT, [None, 1]))
            concat_inputs.append(f.name)
            continue
        inputs.append(helper.make_tensor_value_info(f.name, TensorProto.STRING, [None, 1]))
        code = f"mlx_code_{i}"
        n = len(f.categories)
        mapping: dict[str, Any] = (
            {"values_floats": [float(k) for k in range(n)], "default_float": float("nan")}
            if codes == "float"
            else {"values_int64s": list(range(n)), "default_int64": n}
        )
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [f.name],
                [code],
                domain=ML_DOMAIN,
                name=f"mlx_encode_{i}",
                keys_strings=list(f.categories),
                **mapping,
            )
        )
        if codes != "float":
            nodes.append(
                helper.make_node(
                    "Cast", [code], [f"{code}/float"], to=TensorProto.FLOAT, name=f"mlx_cast_{i}"
                )
            )
            code = f"{code}/float"
        concat_inputs.append(code)
    nodes.append(helper.make_node("Concat", concat_inputs, [output], axis=1, name=CONCAT))
    return inputs, nodes


def _derived_columns(remaps, base: str, output: str) -> tuple[list[Any], list[Any]]:
    """Nodes and tables appending each categorical feature's derived columns (atom ids,
    :mod:`mlx.train.category_atoms`) to the feature matrix ``base``: per feature a
    ``Gather`` by its int64 code from its table, then one ``Concat``.

    The tables are stored as ``uint8`` (4× smaller files) behind a ``Cast`` of the
    initializer itself, which onnxruntime folds into a float constant when it loads the
    model: the rows are gathered as floats, with no per-row cast."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, parts = [], [], []
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "mlx_axis_1"))
    for r in remaps:
        t = f"mlx_atoms_{r.feature}"
        inits.append(numpy_helper.from_array(r.table, t))
        nodes += [
            helper.make_node("Cast", [t], [f"{t}/float"], to=TensorProto.FLOAT, name=f"{t}/float"),
            helper.make_node(
                "Gather", [f"{t}/float", f"mlx_code_{r.feature}"], [f"{t}/rows"], axis=0, name=t
            ),
            helper.make_node("Squeeze", [f"{t}/rows", "mlx_axis_1"], [f"{t}/2d"], name=f"{t}/2d"),
        ]
        parts.append(f"{t}/2d")
    nodes.append(
        helper.make_node("Concat", [base, *parts], [output], axis=1, name="mlx_trees_input")
    )
    return nodes, inits


def _default_form(model: BoosterText) -> str:
    import warnings

    from mlx.train import tree_ensemble5

    if not model.has_categorical:
        return "search"
    if tree_ensemble5.supported():
        return "atoms"
    warnings.warn(
        ExportFallback(
            "this onnxruntime has no ai.onnx.ml opset-5 TreeEnsemble with small-set "
            "BRANCH_MEMBER tests: categorical splits are exported as code-range searches, "
            "exact but slower; upgrade onnxruntime (>= 1.20) for the fast form"
        ),
        stacklevel=3,
    )
    return "search"


def _link(objective_line: str) -> tuple[str, float]:
    """(link function, sigmoid scale) from the model's objective, e.g. ``binary sigmoid:1``."""
    from mlx.train.onnx_trees import UnsupportedModel

    words = objective_line.split()
    objective = words[0] if words else "regression"
    options = dict(w.split(":", 1) for w in words[1:] if ":" in w)
    if objective in IDENTITY:
        return "identity", 1.0
    if objective in EXP:
        return "exp", 1.0
    if objective in SIGMOID:
        return "sigmoid", float(options.get("sigmoid", 1.0))
    if objective == "multiclass":
        return "softmax", 1.0
    raise UnsupportedModel(
        f"objective {objective!r} has no exact ONNX export in mlx",
        hint="use the task's default objective, or a regression objective with an identity or exp link",
    )


def _outputs(raw: str, task: str, link: tuple[str, float], n_classes: int):
    """Nodes from the raw score to the named outputs, their initializers, the outputs."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    kind, scale = link
    nodes, inits = [], []
    if scale != 1.0:
        inits.append(numpy_helper.from_array(np.array([scale], dtype=np.float32), "mlx_scale"))
        nodes.append(helper.make_node("Mul", [raw, "mlx_scale"], ["mlx_scaled"], name="mlx_scale"))
        raw = "mlx_scaled"
    if task == "regression":
        op = {"identity": "Identity", "exp": "Exp"}.get(kind)
        if op is None:
            raise RuntimeError(f"regression with a {kind} link")
        nodes.append(helper.make_node(op, [raw], [OUTPUT_PREDICTION], name="mlx_prediction"))
        return (
            nodes,
            inits,
            [helper.make_tensor_value_info(OUTPUT_PREDICTION, TensorProto.FLOAT, [None, 1])],
        )
    if task == "binary":
        if kind != "sigmoid":
            raise RuntimeError(f"binary classification with a {kind} link")
        inits.append(numpy_helper.from_array(np.array([1.0], dtype=np.float32), "mlx_one"))
        nodes += [
            helper.make_node("Sigmoid", [raw], ["mlx_p1"], name="mlx_sigmoid"),
            helper.make_node("Sub", ["mlx_one", "mlx_p1"], ["mlx_p0"], name="mlx_p0"),
            helper.make_node(
                "Concat",
                ["mlx_p0", "mlx_p1"],
                [OUTPUT_PROBABILITIES],
                axis=1,
                name="mlx_probabilities",
            ),
        ]
    else:
        if kind == "softmax":
            link_node = helper.make_node(
                "Softmax", [raw], [OUTPUT_PROBABILITIES], axis=1, name="mlx_probabilities"
            )
        else:  # multiclassova: one sigmoid per class, not normalised (as LightGBM)
            link_node = helper.make_node(
                "Sigmoid", [raw], [OUTPUT_PROBABILITIES], name="mlx_probabilities"
            )
        nodes.append(link_node)
    nodes.append(
        helper.make_node(
            "ArgMax", [OUTPUT_PROBABILITIES], [OUTPUT_LABEL], axis=1, keepdims=0, name="mlx_label"
        )
    )
    return (
        nodes,
        inits,
        [
            helper.make_tensor_value_info(OUTPUT_LABEL, TensorProto.INT64, [None]),
            helper.make_tensor_value_info(
                OUTPUT_PROBABILITIES, TensorProto.FLOAT, [None, n_classes]
            ),
        ],
    )


def io_signature(features: list[Feature], task: str, n_classes: int) -> dict[str, Any]:
    """Inputs and outputs in Open Inference Protocol terms (for metadata and serving)."""
    inputs = [
        {"name": f.name, "datatype": "BYTES" if f.kind == CATEGORICAL else "FP32", "shape": [-1, 1]}
        for f in features
    ]
    if task == "regression":
        outputs = [{"name": OUTPUT_PREDICTION, "datatype": "FP32", "shape": [-1, 1]}]
    else:
        outputs = [
            {"name": OUTPUT_LABEL, "datatype": "INT64", "shape": [-1]},
            {"name": OUTPUT_PROBABILITIES, "datatype": "FP32", "shape": [-1, n_classes]},
        ]
    return {"inputs": inputs, "outputs": outputs}


def session(model_bytes: bytes, threads: int = 1):
    """An onnxruntime session that never floods the log."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])

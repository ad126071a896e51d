"""The served model: an onnxruntime session plus the feature schema it was trained with.

Shared by the online workers and batch scoring (and the Dask runner's partition
scoring). Imports only numpy and onnxruntime. Rows reach :meth:`ServedModel.predict`
already validated, as one float32 block of numeric features (feature-major, so each
feature is a contiguous row that onnxruntime takes without a copy) plus one list of
strings per categorical feature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlx.errors import IntegrityError, UsageError
from mlx.model_files import score_of

NUMERIC = "numeric"
CATEGORICAL = "categorical"

BLOCK_INPUT = "mlx_numeric_block"  # the serving variant's one numeric input (variant.py)

LABEL = "label"
PROBABILITIES = "probabilities"
PREDICTION = "prediction"

V2_DATATYPES = {
    np.dtype(np.int64): "INT64",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # numeric | categorical
    pos: int  # row in the numeric block, or index among categorical features
    categories: frozenset[str] = frozenset()


class Schema:
    """Feature names, kinds and positions, in the model's (serving) order."""

    def __init__(self, features: list[dict[str, Any]], id_column: str | None = None) -> None:
        self.features: list[Feature] = []
        n_num = n_cat = 0
        for doc in features:
            if doc["kind"] == CATEGORICAL:
                cats = frozenset(str(c) for c in doc.get("categories", ()))
                self.features.append(Feature(doc["name"], CATEGORICAL, n_cat, cats))
                n_cat += 1
            else:
                self.features.append(Feature(doc["name"], NUMERIC, n_num))
                n_num += 1
        self.names = [f.name for f in self.features]
        self.by_name = {f.name: f for f in self.features}
        self.numeric = [f for f in self.features if f.kind == NUMERIC]
        self.categorical = [f for f in self.features if f.kind == CATEGORICAL]
        self.n_num, self.n_cat = n_num, n_cat
        self.all_numeric = n_cat == 0
        self.v2_datatypes = ["BYTES" if f.kind == CATEGORICAL else "FP32" for f in self.features]
        self.id_column = id_column

    def v2_inputs(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f.name,
                "datatype": "BYTES" if f.kind == CATEGORICAL else "FP32",
                "shape": [-1, 1],
            }
            for f in self.features
        ]


def model_md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_session(model_bytes: bytes, threads: int):
    """An onnxruntime session with explicit threads (0 = one per core) and a quiet log."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if threads == 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


class ServedModel:
    """A verified ONNX model, ready to score validated rows."""

    def __init__(
        self,
        session,
        schema: Schema,
        *,
        name: str,
        task: str,
        classes: list[Any] | None,
        version: str = "",
        commit: str = "",
        md5: str = "",
    ) -> None:
        self.session = session
        self.schema = schema
        self.name, self.task, self.classes = name, task, classes
        self.version, self.commit, self.md5 = version, commit, md5
        self.output_names = [o.name for o in session.get_outputs()]
        self._init_feeds()
        self._check_outputs()
        # class values as an object array: labels map to them with one take()
        self.class_values = np.array(classes if classes is not None else [], dtype=object)

    @classmethod
    def load(cls, spec: Any, threads: int = 1) -> ServedModel:
        """Load from a :class:`~mlx.serve.spec.ModelSpec` (or a dict with its fields),
        checking the file's md5 against the spec."""
        get = spec.get if isinstance(spec, dict) else lambda k, d=None: getattr(spec, k, d)
        serving = get("serving_path")  # the block variant the parent derived and checked
        path = Path(serving or str(get("onnx_path")))
        data = path.read_bytes()
        expected = get("serving_md5") if serving else get("md5")
        if expected:
            actual = model_md5(data)
            if actual != expected:
                raise IntegrityError(
                    f"{path} has md5 {actual}, expected {expected}; refusing to serve it",
                    hint="the file changed after it was verified; `dvc checkout` restores it",
                )
        return cls(
            make_session(data, threads),
            Schema(get("features") or [], get("id_column")),
            name=str(get("name")),
            task=str(get("task")),
            classes=get("classes"),
            version=get("version", "") or "",
            commit=get("commit", "") or "",
            md5=get("md5") or "",
        )

    def _init_feeds(self) -> None:
        """How rows become inputs: one tensor per feature (the graph `mlx train` writes)
        or, for the serving variant, all numeric features as one block."""
        schema = self.schema
        got = {i.name: i.type for i in self.session.get_inputs()}
        cats = {f.name: "tensor(string)" for f in schema.categorical}
        per_feature = {**{f.name: "tensor(float)" for f in schema.numeric}, **cats}
        self._cat_names = [f.name for f in schema.categorical]
        if got == per_feature:
            self.block = False
            self._num_names = [f.name for f in schema.numeric]
        elif got == {BLOCK_INPUT: "tensor(float)", **cats}:
            self.block = True
        else:
            raise UsageError(
                f"the ONNX inputs {sorted(got)} do not match metadata.json features",
                hint="the model folder is inconsistent; retrain it with `mlx train`",
            )

    def _check_outputs(self) -> None:
        expected = [PREDICTION] if self.task == "regression" else [LABEL, PROBABILITIES]
        if self.output_names != expected:
            raise UsageError(
                f"model {self.name}: ONNX outputs {self.output_names}, expected {expected}"
            )

    def v2_outputs(self) -> list[dict[str, Any]]:
        if self.task == "regression":
            return [{"name": PREDICTION, "datatype": "FP32", "shape": [-1, 1]}]
        k = len(self.classes or [])
        return [
            {"name": LABEL, "datatype": "INT64", "shape": [-1]},
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, k]},
        ]

    def feeds(self, num: np.ndarray, cats: list) -> dict[str, np.ndarray]:
        """onnxruntime inputs from a [n_num, n] float32 block and categorical columns
        (lists of str/None, or object arrays of str)."""
        n = num.shape[1]
        if self.block:
            feeds = {BLOCK_INPUT: np.ascontiguousarray(num.T)}
        else:
            feeds = dict(zip(self._num_names, num.reshape(len(self._num_names), n, 1), strict=True))
        for name, col in zip(self._cat_names, cats, strict=True):
            if type(col) is list:
                arr = np.array(col, dtype=object)
                if None in col:
                    arr[arr == None] = ""  # noqa: E711 - elementwise; "" is missing in the graph
            else:  # an object array from batch scoring, already without None
                arr = col
            feeds[name] = arr.reshape(n, 1)
        return feeds

    def predict(self, num: np.ndarray, cats: list[Any]) -> list[np.ndarray]:
        """Outputs in ``output_names`` order for validated rows."""
        return self.session.run(self.output_names, self.feeds(num, cats))

    def score(self, outputs: list[np.ndarray]) -> np.ndarray:
        """The one number per row monitoring tracks (docs/internals.md, Score)."""
        return score_of(self.task, outputs[0] if self.task == "regression" else outputs[1])

    def warmup(self, rounds: int = 3) -> None:
        """Run a few calls so the first request pays no one-off costs."""
        for n in (1, 8, 1)[:rounds]:
            num = np.zeros((self.schema.n_num, n), dtype=np.float32)
            cats = [[next(iter(f.categories), "")] * n for f in self.schema.categorical]
            self.predict(num, cats)

"""``metadata.json``: the typed contract between training and everything that reads a model.

The train stage writes one :class:`ModelMetadata`; eval, serve, batch scoring, monitor,
the registry's lineage and the runners read it back through :func:`load_metadata` /
:func:`parse_metadata`, never by string key. Unknown keys are refused (``extra="forbid"``)
and so is another ``format``: a file from an older or newer mlx, or a foreign one, gets
an error naming the field instead of a silent default.

Free-form sections (LightGBM params, the split record, parity details, the reference
profile, runner facts, package versions) stay dicts: their producers own their shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlx.errors import UsageError
from mlx.model_files import FORMAT, METADATA

Task = Literal["binary", "multiclass", "regression"]
Label = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureInfo(_Strict):
    """One model input, in serving order; categorical ones list the training domain."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class TensorInfo(_Strict):
    name: str
    datatype: str
    shape: list[int]


class OnnxInfo(_Strict):
    file: str
    md5: str
    opset: dict[str, int] = Field(default_factory=dict)
    inputs: list[TensorInfo] = Field(default_factory=list)
    outputs: list[TensorInfo] = Field(default_factory=list)


class FileInfo(_Strict):
    file: str
    md5: str


class DataInfo(_Strict):
    """The training data (and the test file when one was configured), as trained on."""

    path: str
    md5: str
    rows: int | None = None
    tracked: bool | None = None
    test_path: str | None = None
    test_md5: str | None = None
    test_tracked: bool | None = None


class CodeInfo(_Strict):
    """The commit the model was trained from (a remote runner adds the bundle's tree)."""

    commit: str | None = None
    dirty: bool | None = None
    branch: str | None = None
    tree: str | None = None


class RunInfo(_Strict):
    """How this run differed from the committed config: ``mlx train --name`` labels it,
    ``--set KEY=VALUE`` overrides (dotted key -> value, as applied) and, for a trial of
    ``mlx tune``, the study and trial number. ``mlx runs`` and ``mlx diff`` read it."""

    name: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    experiment: str | None = None
    tune: dict[str, Any] | None = None


class ModelMetadata(_Strict):
    format: Literal[1]
    name: str
    task: Task
    target: str
    id: str | None = None
    classes: list[Label] | None = None
    features: list[FeatureInfo]
    onnx: OnnxInfo | None = None
    native: FileInfo | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    num_trees: int | None = None
    best_iteration: int | None = None
    data: DataInfo | None = None
    split: dict[str, Any] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    parity: dict[str, Any] = Field(default_factory=dict)
    feature_importance: dict[str, float] = Field(default_factory=dict)
    profile: dict[str, Any] | None = None
    code: CodeInfo = Field(default_factory=CodeInfo)
    trained_at: str | None = None
    runner: dict[str, Any] = Field(default_factory=dict)
    run: RunInfo | None = None

    def require_onnx(self, origin: str = METADATA) -> OnnxInfo:
        """The ONNX file record; a folder without one cannot be served or evaluated."""
        if self.onnx is None:
            raise UsageError(f"{origin} records no ONNX model (key 'onnx')")
        return self.onnx

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "numeric"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the keys the writer set (or the file had), no others."""
        return self.model_dump(mode="json", exclude_unset=True)


def load_metadata(folder: Path) -> ModelMetadata:
    """The metadata of the model folder ``folder`` (exit 2 when there is none)."""
    path = folder / METADATA
    if not path.is_file():
        raise UsageError(
            f"no trained model in {folder} ({METADATA} missing)", hint="run `mlx train` first"
        )
    return parse_metadata(path.read_bytes(), str(path))


def parse_metadata(raw: bytes | str, origin: str) -> ModelMetadata:
    """Parse and check a ``metadata.json`` document; errors name the file and field."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{origin} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{origin}: expected a JSON object")
    if doc.get("format") != FORMAT:
        raise UsageError(
            f"{origin}: unsupported metadata format {doc.get('format')!r} (expected {FORMAT})",
            hint="retrain the model with this mlx, or use the mlx that wrote it",
        )
    try:
        return ModelMetadata.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg'].lower()}"
            for err in exc.errors()[:5]
        )
        raise UsageError(
            f"{origin} is not mlx model metadata (format {FORMAT}): {problems}",
            hint="was it written by another tool or an mlx of another version?",
        ) from None


def write_metadata(folder: Path, meta: ModelMetadata) -> Path:
    """Write ``folder/metadata.json`` atomically (sorted keys, one trailing newline)."""
    from mlx.util.atomic import atomic_path

    path = folder / METADATA
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")
    return path

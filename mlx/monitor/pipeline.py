"""`mlx monitor` end to end: model reference → profile → current data → report → outputs.

The model reference is a model folder (``metadata.json`` inside) or, with none given,
the config's model folder; registry references (``churn#prod``) resolve through
:mod:`mlx.registry.refs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlx.config.model import ProjectConfig
from mlx.config.sections import MonitorConfig
from mlx.errors import BadDataFile, RefError, UsageError
from mlx.metadata import ModelMetadata
from mlx.model_files import METADATA
from mlx.monitor.engine import MonitorReport
from mlx.util.suggest import did_you_mean


@dataclass
class ModelSource:
    ref: str
    folder: Path
    metadata: ModelMetadata
    onnx: Path | None = None  # the verified ONNX file, None when absent or not the recorded one
    registry: dict[str, Any] | None = None  # what a registry reference resolved to

    def describe(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "ref": self.ref,
            "path": str(self.folder),
            "name": meta.name,
            "task": meta.task,
            "commit": meta.code.commit,
            "trained_at": meta.trained_at,
            "md5": meta.onnx.md5 if meta.onnx else None,
            "registry": self.registry,
        }


def open_reference(project: ProjectConfig | None, ref: str | None) -> ModelSource:
    """The model ``ref`` names, through the registry's one loader (a model folder, the
    config's model with no ``ref``, ``NAME#STAGE``, ``NAME@vX.Y.Z``, a tag or commit).
    Without an mlops.yaml only a model folder can be named. The ONNX file is optional
    here (the reference profile is in the metadata); when present it is verified."""
    from mlx.registry.materialize import open_folder, open_model
    from mlx.registry.refs import resolve

    if project is None:
        folder = Path(ref).expanduser() if ref else None
        if folder is not None and folder.name == METADATA:
            folder = folder.parent
        if folder is None or not folder.is_dir():
            raise UsageError(
                "no mlops.yaml found: pass a model folder", hint="or run inside an mlx project"
            )
        local = open_folder(folder, onnx=False)
        label = str(ref)
    else:
        resolved = resolve(project, ref)
        local = open_model(project, resolved, onnx=False)
        label = ref or project.config.model.folder
    meta_path = local.folder / METADATA
    if local.metadata is None:
        raise RefError(
            f"{meta_path} does not exist",
            hint="train a model first (`mlx train`) or pass the folder of one",
        )
    if not local.metadata.features:
        raise RefError(f"{meta_path} lists no features")
    onnx = local.onnx_path if local.md5 is not None and local.onnx_path.is_file() else None
    source = ModelSource(label, local.folder, local.metadata, onnx)
    if local.resolved.commit:
        source.registry = local.resolved.to_dict()
    return source


def reference_profile(
    model: ModelSource, reference_file: Path | None, string_columns: list[str]
) -> tuple[dict[str, Any], str]:
    """The stored profile, or one recomputed from ``reference_file``."""
    meta = model.metadata
    if reference_file is None:
        profile = meta.profile
        if not profile:
            raise UsageError(
                f"{model.folder}/metadata.json has no reference profile",
                hint="retrain with a current mlx, or pass --reference FILE",
            )
        return profile, "metadata"
    from mlx.data.io import read_table
    from mlx.monitor.profile import build_profile, numeric_values

    frame = read_table(reference_file, string_columns)
    scores = numeric_values(frame["_score"]) if "_score" in frame.columns else None
    features = [f.to_dict() for f in meta.features]
    return build_profile(frame, features, scores, meta.task), str(reference_file)


def monitor(
    project: ProjectConfig | None,
    model: ModelSource,
    current_path: Path,
    *,
    since: datetime | None = None,
    reference_file: Path | None = None,
    labels_file: Path | None = None,
    score: bool = True,
    settings: MonitorConfig | None = None,
) -> MonitorReport:
    """Run every check; return the report (outputs are written by the caller)."""
    from mlx.monitor import engine
    from mlx.monitor.current import read_current

    settings = settings or (project.config.monitor if project else MonitorConfig())
    meta = model.metadata
    features = [f.to_dict() for f in meta.features]
    categorical = [f.name for f in meta.features if f.kind == "categorical"]
    id_column = meta.id or (project.config.data.id if project else None)
    target = meta.target or (project.config.data.target if project else None)
    profile, ref_source = reference_profile(model, reference_file, categorical)

    current = read_current(
        current_path, engine.wanted_columns(features, id_column), set(categorical), since
    )
    notes = []
    scores = predicted = None
    has_scores = "_score" in current.table.column_names
    if has_scores and "_label" in current.table.column_names:
        predicted = current.table["_label"].to_numpy(zero_copy_only=False)
    if not has_scores and score and current.rows and profile.get("score"):
        if model.onnx is None:
            notes.append(
                "prediction drift skipped: no `_score` column, and model.onnx is absent "
                "or not the model metadata.json records"
            )
        elif any(f["name"] not in current.table.column_names for f in features):
            notes.append("prediction drift skipped: columns are missing, the model cannot score")
        else:
            from mlx.monitor.scoring import score_table

            scores, predicted = score_table(model.onnx, current.table, features, meta.task)
    if not profile.get("score"):
        notes.append("prediction drift skipped: the reference profile has no scores")

    performance = None
    if labels_file is not None:
        performance = _performance(
            meta, current, labels_file, id_column, target, scores, predicted, settings, notes
        )
    report = engine.run(
        profile,
        features,
        meta.feature_importance,
        current,
        settings,
        scores=scores,
        performance=performance,
        ignore=tuple(c for c in (id_column, target) if c),
        model=model.describe(),
    )
    report.reference["source"] = ref_source
    report.notes += notes
    return report


def _performance(
    meta: ModelMetadata,
    current: Any,
    labels_file: Path,
    id_column: str | None,
    target: str | None,
    scores: Any,
    predicted: Any,
    settings: MonitorConfig,
    notes: list[str],
) -> dict[str, Any]:
    from mlx.data.io import read_table
    from mlx.monitor import performance as perf
    from mlx.monitor.engine import numeric_values

    if not id_column or not target:
        raise UsageError("--labels needs data.id and data.target in mlops.yaml (or metadata)")
    table = current.table
    key = id_column if id_column in table.column_names else "_request_id"
    if key not in table.column_names:
        raise UsageError(
            f"--labels: the current data has neither {id_column!r} nor `_request_id` to join on"
        )
    frame = read_table(labels_file, [id_column, target])
    for col in (id_column, target):
        if col not in frame.columns:
            raise BadDataFile(
                f"--labels {labels_file}: no column {col!r}", hint=did_you_mean(col, frame.columns)
            )
    labelled = frame.dropna(subset=[target])
    labels = dict(zip(labelled[id_column].astype(str), labelled[target].tolist(), strict=True))
    positions, y_true = perf.join_labels(table[key].to_pylist(), labels)
    if scores is None and "_score" in table.column_names:
        scores = numeric_values(table["_score"])[0]
    if len(positions) == 0:
        raise BadDataFile(
            f"--labels {labels_file}: no label matches a current row on {key!r}",
            hint=f"labels join on {id_column!r} (or `_request_id` for prediction logs)",
        )
    live = perf.live_metrics(
        meta.task,
        meta.classes,
        y_true,
        scores[positions] if scores is not None else None,
        predicted[positions] if predicted is not None else None,
    )
    if not live:
        notes.append("live metrics need predictions: `_score` in the data or model.onnx")
    return perf.compare(
        live,
        meta.metrics,
        len(positions),
        table.num_rows - len(positions),
        settings.thresholds.metric_degradation,
    )

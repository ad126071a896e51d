"""The eval stage: score the ONNX model (the artifact that will be served) on the test
split it was trained with, run gates and checks, write metrics, plots and a report.

The test split is rebuilt from what ``metadata.json`` recorded (data md5, split
settings), not from today's config, so the numbers are about the rows the model never
saw. Needs no git: :func:`run_eval_stage` is what a local ``mlx eval`` runs (through
:mod:`mlx.workflows.evaluate`) and what remote runners run in a bundle on the host,
``python -m mlx.evaluate.stage JOB.json`` (see :mod:`mlx.util.jobfile`); the manifest
lists every file written with its md5 plus the metrics document.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.adapters import dvc
from mlx.config.model import MlxConfig, ProjectConfig
from mlx.errors import DataNotAvailable, UsageError
from mlx.metadata import DataInfo, ModelMetadata
from mlx.model_files import FORMAT
from mlx.registry.materialize import Baseline
from mlx.util.jobfile import JobSpec, Progress

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd
    from onnxruntime import InferenceSession

    from mlx.evaluate.checks import ScoreFn

SCORES = "scores.json"


@dataclass
class Scored:
    """A model's predictions on the rebuilt test split."""

    meta: ModelMetadata
    test: pd.DataFrame
    y_train: np.ndarray  # encoded target: class indices, or values for regression
    y_test: np.ndarray
    pred: np.ndarray  # probabilities [n, k] or values [n]
    score_fn: ScoreFn
    inputs: dict[str, np.ndarray]


def load_model(model_dir: Path) -> tuple[ModelMetadata, InferenceSession]:
    """(metadata, onnxruntime session) for a model folder, md5-checked against metadata."""
    from mlx.registry.materialize import open_folder
    from mlx.train.export import session

    local = open_folder(model_dir)  # the registry's loader: pointer and metadata md5 checked
    assert local.metadata is not None  # open_folder refuses a folder without one
    return local.metadata, session(local.onnx_path.read_bytes())


def score_test_split(project: ProjectConfig, meta: ModelMetadata, sess: InferenceSession) -> Scored:
    import numpy as np

    from mlx.data.io import read_table
    from mlx.data.schema import string_columns
    from mlx.train.features import Feature, to_onnx_inputs
    from mlx.train.split import encode_target, split_frame

    cfg = project.config
    data = _trained_on(meta)
    frame = _read_checked(project, data.path, data.md5, string_columns(cfg.data), read_table)
    test_frame = None
    if data.test_path and data.test_md5:
        test_frame = _read_checked(
            project, data.test_path, data.test_md5, string_columns(cfg.data), read_table
        )
    recorded = meta.split
    split_cfg = cfg.split.model_copy(
        update={k: recorded[k] for k in ("test_size", "stratify", "seed") if k in recorded}
    )
    parts = split_frame(frame, cfg.model_copy(update={"split": split_cfg}), test_frame)
    task, classes = meta.task, meta.classes
    y_train, _ = encode_target(parts.train[meta.target], task, classes)
    y_test, _ = encode_target(parts.test[meta.target], task, classes)
    features = [Feature.from_dict(f.to_dict()) for f in meta.features]
    names = [o.name for o in sess.get_outputs()]

    def score_fn(inputs: dict[str, np.ndarray]) -> np.ndarray:
        outputs: dict[str, np.ndarray] = dict(zip(names, sess.run(None, inputs), strict=True))
        return outputs["prediction"] if task == "regression" else outputs["probabilities"]

    inputs = to_onnx_inputs(parts.test, features)
    pred = np.asarray(score_fn(inputs), dtype=np.float64)
    if task == "regression":
        pred = pred.reshape(-1)
    return Scored(meta, parts.test, y_train, y_test, pred, score_fn, inputs)


def _trained_on(meta: ModelMetadata) -> DataInfo:
    if meta.data is None:
        raise UsageError(f"the model {meta.name} records no training data (key 'data')")
    return meta.data


def _read_checked(
    project: ProjectConfig,
    rel: str,
    md5: str,
    strings: list[str],
    read_table: Callable[[Path, list[str]], pd.DataFrame],
) -> pd.DataFrame:
    path = project.resolve(rel)
    dvc.require_data(path)
    actual = dvc.file_md5(path)
    if actual != md5:
        raise DataNotAvailable(
            f"{rel} is not the data this model was trained on (md5 {actual[:12]}, model recorded {md5[:12]})",
            hint=f"`dvc checkout {rel}` (or check out the commit the model came from), or retrain",
        )
    return read_table(path, strings)


def run_eval_stage(
    project: ProjectConfig,
    model_dir: Path,
    out: Path,
    baseline: Baseline | None = None,
    head: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score, gate and check the model; write metrics.json, scores.json, report.md and
    plots/ into ``out``. Returns the metrics document and the DVC plot definitions.

    Needs no git (``head`` is the commit to record), so remote runners run this same
    function in a bundle (``python -m mlx.evaluate.stage``).
    """
    from mlx.evaluate import checks
    from mlx.evaluate.gates import check_gates
    from mlx.evaluate.plots import make_plots
    from mlx.evaluate.report import render_markdown
    from mlx.evaluate.slices import slice_metrics
    from mlx.metrics import compute_metrics

    cfg = project.config
    meta, sess = load_model(model_dir)
    scored = score_test_split(project, meta, sess)
    task = meta.task
    metrics = compute_metrics(task, scored.y_test, scored.pred)

    base_doc = None
    if baseline is not None:
        base_meta, base_sess = load_model(Path(baseline.model_dir))
        base_scored = score_test_split(
            project, meta.model_copy(update={"features": base_meta.features}), base_sess
        )
        base_doc = baseline.describe()
        base_doc["metrics"] = compute_metrics(task, scored.y_test, base_scored.pred)

    results, skipped = check_gates(
        cfg.eval.gates, metrics, base_doc["metrics"] if base_doc else None
    )
    checks_doc: dict[str, Any] = {}
    if cfg.eval.trivial_baseline:
        checks_doc["trivial_baseline"] = checks.trivial_baseline(
            task, scored.y_train, scored.y_test, scored.pred, metrics
        )
    if cfg.eval.perturbation.enabled:
        numeric = meta.numeric_features
        checks_doc["perturbation"] = checks.perturbation(
            scored.score_fn, scored.inputs, numeric, task, cfg.eval.perturbation, meta.seed
        )
    gates_passed = all(r.passed for r in results)
    passed = gates_passed and all(c["passed"] for c in checks_doc.values())
    doc: dict[str, Any] = {
        "format": FORMAT,
        "model": {"name": meta.name, "md5": meta.require_onnx().md5},
        "data": {
            "path": _trained_on(meta).path,
            "md5": _trained_on(meta).md5,
            "test_rows": len(scored.y_test),
        },
        "commit": head,
        "evaluated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metrics": metrics,
        "slices": slice_metrics(
            scored.test, cfg.eval.slices, task, scored.y_test, scored.pred, cfg.eval.min_slice_rows
        ),
        "baseline": base_doc,
        "gates": {
            "passed": gates_passed,
            "skipped": skipped,
            "results": [r.to_dict() for r in results],
        },
        "checks": checks_doc,
        "passed": passed,
    }
    plots = make_plots(
        task,
        scored.y_test,
        scored.pred,
        meta.classes or [],
        meta.feature_importance,
        out / "plots",
    )
    doc["plots"] = {k: {"png": v["png"], "data": v["data"]} for k, v in plots.items()}
    _write_json(out / "metrics.json", doc)
    _write_json(out / SCORES, metrics)  # flat: what `dvc metrics show/diff` displays
    (out / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    return doc, {k: {"data": v["data"], "dvc": v["dvc"]} for k, v in plots.items()}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    import json

    path.write_text(
        json.dumps(doc, indent=2, sort_keys=True, default=_plain) + "\n", encoding="utf-8"
    )


def _plain(obj: Any) -> Any:
    return obj.item() if hasattr(obj, "item") else str(obj)


class EvalJobSpec(JobSpec):
    """``python -m mlx.evaluate.stage JOB.json``: written by the ssh runner, read here.

    Paths are the host's; ``config_file`` is the project's config inside the bundle (its
    folder is the project root the data paths are relative to)."""

    config: MlxConfig
    config_file: str
    model_dir: str
    out_dir: str
    head: str | None = None
    baseline: Baseline | None = None


def main(argv: list[str]) -> int:
    from mlx.util.jobfile import run_job

    return run_job(argv, EvalJobSpec, _job)


def _job(job: EvalJobSpec, progress: Progress | None) -> dict[str, Any]:  # noqa: ARG001
    from mlx.adapters.dvc import file_md5s

    project = ProjectConfig(job.config, Path(job.config_file).resolve())
    out = Path(job.out_dir)
    doc, plots = run_eval_stage(project, Path(job.model_dir), out, job.baseline, head=job.head)
    return {"doc": doc, "plots": plots, "files": file_md5s(out)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

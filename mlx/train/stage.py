"""The train stage: a pure function of (config, data files, output folder).

It validates the data (bad data stops it before any work), splits, trains, exports to
ONNX, checks parity and writes ``model.onnx``, ``model.lgb.txt`` and ``metadata.json``
into ``out_dir``. It knows nothing about git, DVC or where it runs, so a local run, an
ssh runner and a Dask runner all call this same function (``python -m mlx.train.stage``
runs it from a JSON job file on a remote host).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlx.config.model import MlxConfig
from mlx.errors import DataValidationFailed
from mlx.metadata import (
    DataInfo,
    FeatureInfo,
    FileInfo,
    ModelMetadata,
    OnnxInfo,
    TensorInfo,
    write_metadata,
)
from mlx.model_files import FORMAT, METADATA, NATIVE, ONNX, score_of
from mlx.util.jobfile import JobSpec, Progress


def run_train_stage(
    cfg: MlxConfig,
    data_path: Path,
    out_dir: Path,
    *,
    test_path: Path | None = None,
    schema_text: str | None = None,
    context: dict[str, Any] | None = None,
    progress: Progress | None = None,
    booster_factory: Callable[..., Any] | None = None,
) -> ModelMetadata:
    """Train and write the model files; returns the metadata written.

    ``context`` carries what only the caller knows (data md5/path as tracked, code
    commit, runner); it is merged into the metadata. ``booster_factory`` replaces the
    local LightGBM fit (the Dask runner trains on a cluster) and must return a booster.
    """
    from mlx.adapters.dvc import file_md5
    from mlx.data.io import read_table
    from mlx.data.schema import string_columns
    from mlx.data.validate import validate_frame
    from mlx.train import booster_text, export, fit, parity, split
    from mlx.train import features as feats
    from mlx.train.thresholds import training_values

    started = time.perf_counter()
    clock = _Phases()
    fit.check_params(cfg.model.params)
    frame = read_table(data_path, string_columns(cfg.data))
    clock.lap("read")
    report, _ = validate_frame(frame, cfg, schema_text, str(data_path))
    clock.lap("validate")
    if not report.ok:
        raise DataValidationFailed(
            f"{data_path} failed validation ({len(report.failures)} checks): "
            f"{report.summary()}; nothing was trained",
            hint="see `mlx validate` for the table",
            details=report.to_dict(),
        )
    test_frame = None
    if test_path is not None:
        test_frame = read_table(test_path, string_columns(cfg.data))
        test_report, _ = validate_frame(test_frame, cfg, schema_text, str(test_path))
        if not test_report.ok:
            raise DataValidationFailed(
                f"{test_path} failed validation: {test_report.summary()}",
                details=test_report.to_dict(),
            )

    features = feats.describe_features(frame, cfg.data, cfg.model)
    parts = split.split_frame(frame, cfg, test_frame)
    clock.lap("split")
    task, target = cfg.model.task, cfg.data.target
    y_train, classes = split.encode_target(parts.train[target], task)
    y_test, _ = split.encode_target(parts.test[target], task, classes)
    params, rounds = fit.effective_params(
        cfg.model.params, task, cfg.model.seed, len(classes or [])
    )
    categorical = feats.lightgbm_categorical(features)

    best_iteration = None
    if booster_factory is not None:
        booster = booster_factory(parts.train, y_train, features, params, rounds)
    else:
        train_rows, valid = parts.train, None
        if cfg.model.early_stopping_rounds:
            train_rows, valid_rows = split.validation_split(parts.train, cfg)
            y_fit, _ = split.encode_target(train_rows[target], task, classes)
            y_valid, _ = split.encode_target(valid_rows[target], task, classes)
            valid = (feats.to_lightgbm_frame(valid_rows, features), y_valid)
        else:
            y_fit = y_train
        raw = fit.train_booster(
            feats.to_lightgbm_frame(train_rows, features),
            y_fit,
            params,
            rounds,
            categorical,
            valid=valid,
            early_stopping_rounds=cfg.model.early_stopping_rounds,
            progress=progress,
        )
        booster = fit.final_booster(raw)
        best_iteration = raw.best_iteration or None

    native_text = booster.model_to_string()  # the file written below; the export reads it
    booster_text.read(booster, native_text)
    clock.lap("fit")
    train_values = training_values(parts.train, features, booster)
    onnx_bytes = export.to_onnx(booster, features, task, classes, cfg.model.name, train_values)
    session = export.session(onnx_bytes)
    clock.lap("export")
    onnx_pred = parity.onnx_predictions(session, parts.test, features, task)
    clock.lap("held-out scoring")
    parity_report = parity.check_parity(
        session, booster, parts.test, features, task, train_values, onnx_pred
    )
    clock.lap("parity")
    metrics = quick_metrics(task, y_test, onnx_pred)
    scores = score_of(task, onnx_pred)  # held-out rows: the reference for prediction drift

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ONNX).write_bytes(onnx_bytes)
    (out_dir / NATIVE).write_text(native_text, encoding="utf-8")
    signature = export.io_signature(features, task, len(classes or []))
    meta = ModelMetadata(
        format=FORMAT,
        name=cfg.model.name,
        task=task,
        target=target,
        id=cfg.data.id,
        classes=classes,
        features=[FeatureInfo.model_validate(f.to_dict()) for f in features],
        onnx=OnnxInfo(
            file=ONNX,
            md5=file_md5(out_dir / ONNX),
            opset=_opsets(onnx_bytes),
            inputs=[TensorInfo.model_validate(t) for t in signature["inputs"]],
            outputs=[TensorInfo.model_validate(t) for t in signature["outputs"]],
        ),
        native=FileInfo(file=NATIVE, md5=file_md5(out_dir / NATIVE)),
        params=params | {"num_iterations": rounds},
        seed=cfg.model.seed,
        num_trees=booster.num_trees(),
        best_iteration=best_iteration,
        data=DataInfo(path=str(data_path), md5=file_md5(data_path), rows=len(frame)),
        split=parts.info,
        packages=package_versions(),
        metrics=metrics,
        parity=parity_report.to_dict(),
        feature_importance=fit.gain_importance(booster, [f.name for f in features]),
        profile=_profile(parts.train, features, scores, task),
    )
    clock.lap("metrics, profile, write")
    runner = {"duration_s": round(time.perf_counter() - started, 3), "phases_s": clock.phases}
    typed = with_context(meta, (context or {}) | {"runner": (context or {}).get("runner", {}) | runner})  # fmt: skip
    write_metadata(out_dir, typed)
    return typed


def with_context(meta: ModelMetadata, context: dict[str, Any]) -> ModelMetadata:
    """``meta`` with what only the caller knows merged in: sections that are objects on
    both sides (data, code, runner) are merged key by key, the rest replaced; the result
    is validated again, so a context can only add what the contract allows."""
    doc = meta.to_dict()
    for key, value in context.items():
        current = doc.get(key)
        doc[key] = (
            current | value if isinstance(value, dict) and isinstance(current, dict) else value
        )
    return ModelMetadata.model_validate(doc)


class _Phases:
    """Wall time per stage phase, recorded in lineage (and used by the benchmark)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self._last, 3)
        self._last = now


def quick_metrics(task: str, y_true, pred) -> dict[str, float]:
    """Headline test-split metrics recorded at train time (eval computes the full set)."""
    from mlx.metrics import compute_metrics

    return compute_metrics(task, y_true, pred)


def _profile(train_rows, features, scores, task) -> dict[str, Any]:
    from mlx.monitor.profile import build_profile

    return build_profile(train_rows, [f.to_dict() for f in features], scores, task)


def _opsets(model_bytes: bytes) -> dict[str, int]:
    import onnx

    model = onnx.load_from_string(model_bytes)
    return {op.domain: op.version for op in model.opset_import}


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in (
        "mlx-mlops",
        "lightgbm",
        "onnx",
        "onnxmltools",
        "onnxruntime",
        "numpy",
        "pandas",
        "scikit-learn",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


class TrainJobSpec(JobSpec):
    """``python -m mlx.train.stage JOB.json``: written by the ssh runner, read here.

    Input paths are relative to the host's working folder (the bundle's project folder)
    or absolute there, each with the md5 the caller recorded in the lineage."""

    config: MlxConfig
    data: str
    test: str | None = None
    out_dir: str
    schema_text: str | None = None
    context: dict[str, Any] = {}
    expect_md5: dict[str, str] = {}


def main(argv: list[str]) -> int:
    """``python -m mlx.train.stage JOB.json [--progress]``: the stage from a job file.

    Remote runners run this on the host (see :mod:`mlx.util.jobfile`); the manifest lists
    the outputs' md5s.
    """
    from mlx.util.jobfile import run_job

    return run_job(argv, TrainJobSpec, _job)


def _job(job: TrainJobSpec, progress: Progress | None) -> dict[str, Any]:
    from mlx.adapters.dvc import file_md5s

    data = Path(job.data)
    test = Path(job.test) if job.test else None
    _check_inputs({"data": data, "test": test}, job.expect_md5)
    out_dir = Path(job.out_dir)
    meta = run_train_stage(
        job.config,
        data,
        out_dir,
        test_path=test,
        schema_text=job.schema_text,
        context=job.context,
        progress=progress,
    )
    return {
        "files": file_md5s(out_dir, [ONNX, NATIVE, METADATA]),
        "duration_s": meta.runner["duration_s"],
    }


def _check_inputs(paths: dict[str, Path | None], expected: dict[str, str]) -> None:
    """The bytes on this host must be the ones the caller recorded in the lineage."""
    from mlx.adapters.dvc import file_md5, require_data
    from mlx.errors import IntegrityError

    for key, md5 in expected.items():
        path = paths.get(key)
        if path is None:
            continue
        require_data(path)
        actual = file_md5(path)
        if actual != md5:
            raise IntegrityError(
                f"{path} on this host has md5 {actual}, expected {md5}",
                hint="the DVC remote or the shipped copy does not hold the committed data",
            )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

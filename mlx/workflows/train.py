"""``mlx train`` around the stage: lineage context, the runner, DVC tracking, commit.

The stage writes into a staging folder beside the model folder; only a complete,
parity-checked result is moved into place (file by file, each an atomic rename, with
Ctrl-C held back for those few milliseconds), then tracked with DVC. An interrupted or
failed train leaves the previous model exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import UsageError
from mlx.metadata import ModelMetadata, parse_metadata
from mlx.model_files import METADATA, NATIVE, ONNX

if TYPE_CHECKING:
    from mlx.runners import Progress, Runner, TrainJob


@dataclass
class TrainResult:
    name: str
    task: str
    model_dir: str
    metrics: dict[str, float]
    parity: dict[str, Any]
    onnx_md5: str
    data: dict[str, Any]
    runner: dict[str, Any]
    changed: list[str]
    commit: str | None = None
    notes: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def train(
    project: ProjectConfig,
    runner_name: str | None = None,
    commit: bool = False,
    progress: Callable[[int, int], None] | None = None,
    ship_data: bool = False,
    log: Callable[[str], None] | None = None,
    name: str | None = None,
) -> TrainResult:
    """Train with the named runner (``log`` gets remote runners' output lines).

    ``name`` labels the run; the project's ``--set`` overrides and, under
    ``dvc exp run``, DVC's experiment name are recorded with it in ``metadata.run``."""
    from mlx.data.validate import load_schema_text
    from mlx.experiments.stages import sync
    from mlx.runners import TrainJob, get_runner
    from mlx.train.fit import check_params

    cfg = project.config
    check_params(cfg.model.params, str(project.path), project.overrides)
    git = Git.discover(project.root)
    runner = get_runner(project, runner_name)
    data_path = project.resolve(cfg.data.train)
    test_path = project.resolve(cfg.data.test) if cfg.data.test else None
    notes: list[str] = []
    synced = sync(project)
    if synced:
        notes.append(synced)
    data_ctx = _data_context(project, git, data_path, test_path, notes, strict=commit)
    context = {
        "data": data_ctx,
        "code": {"commit": git.head(), "dirty": git.is_dirty(), "branch": git.branch()},
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    run = run_info(name, project.overrides)
    trial = _applied_trial(project)
    if trial:
        run["tune"] = trial
    if run:
        context["run"] = run
    model_dir = project.model_dir
    staging = model_dir.parent / f".{model_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        job = TrainJob(
            project,
            data_path,
            staging,
            test_path,
            load_schema_text(project),
            context,
            ship_data,
            log,
        )
        meta = _train_noting_fallbacks(runner, job, progress, notes)
        changed = _install(project, git, staging, model_dir, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    rel_dir = project.relative(model_dir)
    result = TrainResult(
        name=cfg.model.name,
        task=cfg.model.task,
        model_dir=str(rel_dir),
        metrics=meta.metrics,
        parity=meta.parity,
        onnx_md5=meta.require_onnx().md5,
        data=meta.data.model_dump(exclude_unset=True) if meta.data else {},
        runner=meta.runner,
        changed=changed,
        notes=notes,
    )
    if not changed:
        result.notes.append("the model is identical to the one in the tree: nothing to commit")
    elif commit:
        result.commit = git.commit(commit_message(meta), changed)
    else:
        result.next_steps.append(
            f"git add {' '.join(changed)} && git commit -m '{commit_message(meta)}'"
        )
    result.next_steps.append("mlx eval")
    return result


def _train_noting_fallbacks(
    runner: Runner, job: TrainJob, progress: Progress | None, notes: list[str]
) -> ModelMetadata:
    """Train; an exporter fallback (a slower exact graph form, because the installed
    onnxruntime lacks an operator) becomes a note, not a Python warning on stderr."""
    import warnings

    from mlx.train.export import ExportFallback

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportFallback)
        meta = runner.train(job, progress)
    for warning in caught:
        if issubclass(warning.category, ExportFallback):
            notes.append(f"export: {warning.message}")
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return meta


def _applied_trial(project: ProjectConfig) -> dict[str, Any] | None:
    """The ``mlx tune`` trial whose params this run trains with (after ``--apply``):
    the model folder's trials table has a best trial and every one of its params is
    what the config now sets."""
    from mlx.experiments.trials import read_table, table_path

    path = table_path(project.model_dir)
    table = read_table(path)  # None when absent or not a trials table
    best = (table or {}).get("best") or {}
    params = best.get("params")
    if not table or not isinstance(params, dict) or not params:
        return None
    current = project.config.model.params
    if any(current.get(k) != v for k, v in params.items()):
        return None
    return {
        "table": project.relative(path),
        "study": (table.get("study") or {}).get("id"),
        "trial": best.get("trial"),
        "value": best.get("value"),
        "metric": table.get("metric"),
    }


def run_info(name: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """What ``metadata.run`` records about this run (empty for a plain ``mlx train``)."""
    import re

    run: dict[str, Any] = {}
    if name is not None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
            raise UsageError(
                f"--name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)",
                hint="e.g. --name leaves-63",
            )
        run["name"] = name
    if overrides:
        run["overrides"] = dict(overrides)
    experiment = os.environ.get("DVC_EXP_NAME")
    if experiment:
        run["experiment"] = experiment
    return run


def commit_message(meta: ModelMetadata) -> str:
    from mlx.metrics import headline

    data = f" (data {meta.data.md5[:8]})" if meta.data else ""
    label = meta.run.name or meta.run.experiment if meta.run else None
    run = f" [{label}]" if label else ""
    return f"Train {meta.name}{run}: {headline(meta.task, meta.metrics)}{data}"


def _data_context(
    project: ProjectConfig,
    git: Git,
    data_path: Path,
    test_path: Path | None,
    notes: list[str],
    strict: bool,
) -> dict[str, Any]:
    dvc.require_data(data_path)
    out: dict[str, Any] = {"path": project.relative(data_path)}
    for key, path in (("", data_path), ("test_", test_path)):
        if path is None:
            continue
        pointer = dvc.read_pointer(path)
        md5 = dvc.file_md5(path)
        out[f"{key}path"] = project.relative(path)
        out[f"{key}md5"] = md5
        out[f"{key}tracked"] = pointer is not None
        problem = None
        if pointer is None:
            problem = f"{out[key + 'path']} is not tracked by DVC, so this model's data cannot be retrieved later"
            fix = f"dvc add {out[key + 'path']}"
        elif pointer.md5 != md5:
            problem = f"{out[key + 'path']} differs from its DVC pointer (the model would not be traceable)"
            fix = f"dvc add {out[key + 'path']}"
        if problem and strict:
            raise UsageError(problem + "; refusing to commit", hint=f"run `{fix}` first")
        if problem:
            notes.append(f"{problem}; run `{fix}`")
    return out


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold SIGINT for the few renames that must not be split."""
    received: list[Any] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: received.append(a))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _install(
    project: ProjectConfig, git: Git, staging: Path, model_dir: Path, meta: ModelMetadata
) -> list[str]:
    """Move the staged files into the model folder, track them, declare the artifact."""
    model_dir.mkdir(parents=True, exist_ok=True)
    cfg = project.config
    with _no_interrupt():  # from here on, finish: a half-installed model is worse than none
        names = [ONNX, NATIVE]
        if not same_model(model_dir / METADATA, staging / METADATA):
            names.append(METADATA)  # else keep the file: a retrain that changed nothing
        for name in names:
            os.replace(staging / name, model_dir / name)
        pointers = dvc.add(project.root, [model_dir / ONNX, model_dir / NATIVE])
        dvc.declare(
            project.root,
            artifact={
                "name": cfg.model.name,
                "path": project.relative(model_dir / ONNX),  # DVC: relative to dvc.yaml
                "type": "model",
                "desc": f"LightGBM {cfg.model.task} model for {cfg.data.target} (ONNX, preprocessing inside)",
                "labels": ["lightgbm", "onnx", cfg.model.task],
            },
        )
    files = [p.pointer for p in pointers] + [
        model_dir / METADATA,
        model_dir / ".gitignore",
        project.root / "dvc.yaml",
    ]
    return [str(git.relative(f)) for f in files if f.exists() and _changed(git, f)]


# what differs between two runs that trained the same model: when, how long, from which
# commit of otherwise identical inputs (the data md5, params and model bytes are compared;
# where it ran is lineage, so another runner or host does rewrite the file)
_VOLATILE = ("trained_at", "code")
_VOLATILE_RUNNER = ("duration_s", "phases_s")


def same_model(installed: Path, staged: Path) -> bool:
    """Whether the staged metadata describes the installed model again (same ONNX and
    native bytes, data, params, metrics), differing only in :data:`_VOLATILE` keys."""
    from mlx.errors import MlxError

    if not installed.is_file():
        return False
    try:
        old = parse_metadata(installed.read_bytes(), str(installed))
        new = parse_metadata(staged.read_bytes(), str(staged))
    except (OSError, MlxError):  # an unreadable old file is replaced, not compared
        return False
    return _stable(old) == _stable(new)


def _stable(meta: ModelMetadata) -> dict[str, Any]:
    out = meta.model_dump(mode="json", exclude=set(_VOLATILE))
    out["runner"] = {k: v for k, v in out["runner"].items() if k not in _VOLATILE_RUNNER}
    return out


def _changed(git: Git, path: Path) -> bool:
    rel = str(git.relative(path))
    return bool(git.run("status", "--porcelain", "--", rel))

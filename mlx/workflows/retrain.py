"""Retraining on drift: train + eval on the configured data, commit on a new branch.

It runs in a second, detached git work tree of HEAD (in a temp folder) that shares the
project's DVC cache, so the user's checkout, index and branches are never touched: the
only lasting effects are one commit on a new branch (``monitor.retrain_branch``, never
an existing one) when the eval gates pass, the new model's files in the DVC cache, and,
only if ``monitor.auto_promote`` names a stage, that promotion. When the gates fail, or
the retrained model is byte-identical to the current one (the training data has not
changed), nothing is committed.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.model import ProjectConfig
from mlx.errors import MlxError, UsageError
from mlx.monitor.engine import MonitorReport

if TYPE_CHECKING:
    from mlx.adapters.git import Git


def retrain(project: ProjectConfig, report: MonitorReport) -> dict[str, Any]:
    from mlx.adapters import dvc
    from mlx.adapters.git import Git
    from mlx.config.loader import load_project
    from mlx.workflows.evaluate import run_evaluation
    from mlx.workflows.train import train

    settings = project.config.monitor
    git = Git.discover(project.root)
    head = git.head()
    if head is None:
        raise UsageError("--on-drift retrain needs a commit to start from")
    branch = _free_branch(git, settings.retrain_branch)
    project_rel = project.root.resolve().relative_to(git.root)
    config_rel = project.path.resolve().relative_to(git.root)
    out: dict[str, Any] = {
        "started_from": head,
        "branch": None,
        "commit": None,
        "passed": False,
        "promoted": None,
        "notes": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="mlx-retrain-"))
    tree = tmp / git.root.name
    worktree = git.add_worktree(tree, head)
    try:
        root = tree / project_rel
        dvc.use_cache(root, dvc.cache_dir(project.root))
        _checkout_data(project, root)
        try:
            trained = train(load_project(tree / config_rel))
            evaluated = run_evaluation(load_project(tree / config_rel))
        except MlxError as exc:  # the drift report stands; say why retraining stopped
            out["error"] = exc.to_dict()
            out["message"] = f"retraining failed: {exc.message}"
            return out
        out.update(
            passed=evaluated.passed,
            metrics=trained.metrics,
            onnx_md5=trained.onnx_md5,
            previous_md5=_current_md5(report),
        )
        if not evaluated.passed:
            out["message"] = "retrained, but the eval gates failed: nothing committed"
            return out
        if trained.onnx_md5 == out["previous_md5"]:
            out["message"] = (
                "the retrained model is identical to the current one (same data, params "
                "and seed): nothing committed; update the training data first"
            )
            return out
        changed = sorted(set(trained.changed) | set(getattr(evaluated, "changed", []) or []))
        commit = worktree.commit(_message(project, report, trained.metrics), changed)
        git.create_branch(branch, commit)
        out.update(branch=branch, commit=commit)
        out["message"] = f"committed the retrained model on branch {branch} ({commit[:10]})"
        if settings.auto_promote:
            out["promoted"] = _promote(project, commit, settings.auto_promote, out)
        return out
    finally:
        git.remove_worktree(tree)
        shutil.rmtree(tmp, ignore_errors=True)


def _free_branch(git: Git, pattern: str) -> str:
    """The configured branch name with {date}; a -2, -3 … suffix if it exists."""
    base = pattern.format(date=datetime.now(timezone.utc).strftime("%Y-%m-%d"))
    name, n = base, 1
    while git.branch_exists(name):
        n += 1
        name = f"{base}-{n}"
    return name


def _checkout_data(project: ProjectConfig, root: Path) -> None:
    """Check the DVC-tracked data files out in the work tree (from the shared cache)."""
    from mlx.adapters import dvc

    cfg = project.config.data
    targets = []
    for rel in filter(None, (cfg.train, cfg.test)):
        data = root / rel
        pointer = dvc.pointer_path(data)
        if pointer.is_file() and not data.exists():
            targets.append(pointer)
    if targets:
        dvc.checkout(root, targets)


def _current_md5(report: MonitorReport) -> str | None:
    from mlx.metadata import load_metadata
    from mlx.model_files import METADATA

    folder = report.model.get("path")
    if not folder or not (Path(folder) / METADATA).is_file():
        return None
    meta = load_metadata(Path(folder))
    return meta.onnx.md5 if meta.onnx else None


def _message(project: ProjectConfig, report: MonitorReport, metrics: dict[str, float]) -> str:
    shown = ", ".join(f"{k}={v:.4f}" for k, v in list(metrics.items())[:2])
    drifted = ", ".join(report.verdict.drifted[:5]) or "predictions"
    return (
        f"Retrain {project.config.model.name} on drift: {shown}\n\n"
        f"mlx monitor found drift in {report.current.get('source')}: "
        f"{report.verdict.drift_share:.0%} of feature importance ({drifted})."
    )


def _promote(
    project: ProjectConfig, commit: str, stage: str, out: dict[str, Any]
) -> dict[str, Any] | None:
    """Promote the retrained commit; a refusal is recorded, not raised: the drift
    verdict and the committed branch stand on their own."""
    from mlx.errors import CheckFailed
    from mlx.registry.promote import promote

    try:
        change = promote(project, commit, stage=stage, reason="auto-promoted after a drift retrain")
    except CheckFailed as exc:
        out["notes"].append(f"auto_promote to {stage!r} refused: {exc.message}")
        return None
    return change.to_dict()

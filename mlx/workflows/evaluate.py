"""``mlx eval``: run the eval stage into a fresh folder, declare its results in
``dvc.yaml``, list what changed, commit on request.

The stage itself (:mod:`mlx.evaluate.stage`) needs no git; results go to
``eval/metrics.json``, keyed to the model's md5, which is what ``mlx promote`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import RefError
from mlx.evaluate.stage import SCORES, run_eval_stage
from mlx.metadata import load_metadata
from mlx.model_files import EVAL_DIR, METADATA
from mlx.registry.materialize import Baseline
from mlx.runners import Log, Runner


@dataclass
class EvalResult:
    doc: dict[str, Any]
    eval_dir: str
    changed: list[str] = field(default_factory=list)
    commit: str | None = None
    runner: dict[str, Any] | None = None  # with --runner: where it ran
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.doc["passed"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.passed,
            **self.doc,
            "eval_dir": self.eval_dir,
            "changed": self.changed,
            "commit": self.commit,
            **({"runner": self.runner} if self.runner else {}),
            **({"notes": self.notes} if self.notes else {}),
        }


def run_evaluation(
    project: ProjectConfig,
    ref: str | None = None,
    commit: bool = False,
    runner: str | None = None,
    log: Log | None = None,
) -> EvalResult:
    """``mlx eval``: the model folder ``ref`` (default: the working-tree model) against
    the gates, with the ``eval.baseline_stage`` model as baseline; on an ssh ``runner``
    the host scores the committed model and the results are written and declared here."""
    from mlx.experiments.stages import sync
    from mlx.registry.materialize import baseline_for

    sync(project)  # dvc.yaml then shows in `changed` when its stages moved
    model_dir = None
    if ref is not None:
        model_dir = project.resolve(ref)
        if not (model_dir / METADATA).is_file():
            raise RefError(
                f"{ref!r} is not a model folder", hint="give a folder holding metadata.json"
            )
    chosen = None
    if runner is not None:
        from mlx.runners import get_runner

        chosen = get_runner(project, runner)
        if chosen.placement("evaluate") == "there":
            return _remote_evaluate(project, chosen, model_dir or project.model_dir, commit, log)
    baseline = baseline_for(project, project.config.eval.baseline_stage)
    result = evaluate(project, model_dir, commit=commit, baseline=baseline)
    if chosen is not None:
        result.runner = {"name": chosen.name, "kind": chosen.kind, "where": "here"}
        note = chosen.here_note("evaluate")
        if note:
            result.notes.append(note)
    return result


def _remote_evaluate(
    project: ProjectConfig, runner: Runner, model_dir: Path, commit: bool, log: Log | None
) -> EvalResult:
    """Eval on the runner's host. The baseline is resolved here (the host has no
    registry) and shipped with the model; results are written and declared here."""
    from mlx.registry.materialize import baseline_for
    from mlx.runners import EvalJob
    from mlx.util.atomic import atomic_dir

    eval_dir = eval_folder(project, model_dir)
    baseline = baseline_for(project, project.config.eval.baseline_stage)
    with atomic_dir(eval_dir) as tmp:
        remote = runner.evaluate(EvalJob(project, model_dir, tmp, baseline, log))
    result = record_results(
        project, Git.discover(project.root), eval_dir, remote.doc, remote.plots, model_dir, commit
    )
    result.runner = remote.runner
    return result


def evaluate(
    project: ProjectConfig,
    model_dir: Path | None = None,
    commit: bool = False,
    baseline: Baseline | None = None,
) -> EvalResult:
    """Evaluate the model in ``model_dir`` (default: the config's model folder).

    ``baseline``: the model change gates compare against (it is scored on the same
    rows); None skips change gates.
    """
    from mlx.util.atomic import atomic_dir

    git = Git.discover(project.root)
    model_dir = model_dir or project.model_dir
    eval_dir = eval_folder(project, model_dir)
    with atomic_dir(eval_dir) as tmp:
        doc, plot_specs = run_eval_stage(project, model_dir, tmp, baseline, head=git.head())
    return record_results(project, git, eval_dir, doc, plot_specs, model_dir, commit)


def eval_folder(project: ProjectConfig, model_dir: Path) -> Path:
    cfg = project.config
    return project.resolve(cfg.eval.output) if cfg.eval.output else model_dir / EVAL_DIR


def record_results(
    project: ProjectConfig,
    git: Git,
    eval_dir: Path,
    doc: dict[str, Any],
    plot_specs: dict[str, Any],
    model_dir: Path,
    commit: bool = False,
) -> EvalResult:
    """Declare the written results in dvc.yaml, list what changed, commit on request."""
    rel_eval = project.relative(eval_dir)  # dvc.yaml paths are relative to dvc.yaml
    dvc.declare(
        project.root,
        metrics=f"{rel_eval}/{SCORES}",
        plots=[{f"{rel_eval}/plots/{v['data']}": v["dvc"]} for v in plot_specs.values()],
    )
    result = EvalResult(doc, rel_eval)
    in_repo = [str(git.relative(p)) for p in (eval_dir, project.root / "dvc.yaml")]
    result.changed = [c for c in in_repo if git.run("status", "--porcelain", "--", c)]
    if commit and result.changed:
        from mlx.metrics import headline

        task = load_metadata(model_dir).task
        verdict = "passed" if doc["passed"] else "FAILED"
        shown = headline(task, doc["metrics"])
        result.commit = git.commit(
            f"Eval {doc['model']['name']}: {verdict} ({shown})", result.changed
        )
    return result

"""The Python API: what the CLI calls, and what a notebook or CI script can call.

Functions take plain arguments, return result objects with ``to_dict()``, and raise
:class:`mlx.errors.MlxError` subclasses. Heavy libraries are imported inside the
functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config import find_project, load_project

if TYPE_CHECKING:  # the results' modules import heavy libraries lazily; types only
    from mlx.ci.precommit import PreCommitResult
    from mlx.ci.prepush import PrePushResult
    from mlx.experiments.diff import DiffResult
    from mlx.experiments.runs import RunsResult
    from mlx.monitor.compare import Comparison
    from mlx.monitor.engine import MonitorReport
    from mlx.registry.change import RegistryChange
    from mlx.registry.lineage import Lineage
    from mlx.registry.materialize import LocalModel
    from mlx.registry.promote import StageChange
    from mlx.registry.queries import CheckRefResult, HistoryResult, ShowResult
    from mlx.registry.refs import ResolvedModel
    from mlx.scaffold import InitResult
    from mlx.serve.plan import ServeOptions, ServePlan
    from mlx.workflows.evaluate import EvalResult
    from mlx.workflows.train import TrainResult
    from mlx.workflows.tune import TuneResult
    from mlx.workflows.validate import ValidateResult


def init(
    path: Path | str = ".",
    example: bool = False,
    remote: str | None = None,
    hooks: bool = False,
    ci: str | None = None,
) -> InitResult:
    """Create or complete an mlx project in ``path``; see :mod:`mlx.scaffold`.

    ``hooks`` installs the git hooks (:mod:`mlx.ci.hooks`); ``ci="github"`` writes the
    GitHub Actions workflows (:mod:`mlx.ci.github`).
    """
    from mlx.scaffold import init_project

    return init_project(Path(path), example=example, remote=remote, hooks=hooks, ci=ci)


def validate(
    config: Path | str | None = None,
    config_only: bool = False,
    infer: bool = False,
    data: Path | str | None = None,
    runner: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ValidateResult:
    """Check the config, then (unless ``config_only``) the data against its rules.

    ``infer`` first writes a pandera schema inferred from the data to ``data.schema``
    (or ``schema.yaml`` beside the training data) and then validates against it.
    ``runner`` (an ssh runner) checks the committed data on that host instead; the
    config is always checked here. See :mod:`mlx.workflows.validate`.
    """
    from mlx.workflows.validate import run_validation

    return run_validation(
        load_project(config), config_only=config_only, infer=infer, data=_path(data),
        runner=runner, log=log,
    )  # fmt: skip


# --- registry ------------------------------------------------------------------------


def resolve_model(ref: str | None = None, config: Path | str | None = None) -> ResolvedModel:
    """What a model reference names (``NAME#STAGE``, ``NAME@vX.Y.Z``, commit, folder...).

    Returns :class:`mlx.registry.refs.ResolvedModel`; :class:`RefError` if it names nothing.
    """
    from mlx.registry.refs import resolve

    return resolve(load_project(config), ref)


def open_model(
    ref: str | None = None, config: Path | str | None = None, native: bool = False
) -> LocalModel:
    """Resolve ``ref`` and give it a local folder with verified ``model.onnx`` + metadata.

    Returns :class:`mlx.registry.materialize.LocalModel`.
    """
    from mlx.registry.materialize import open_model as _open
    from mlx.registry.refs import resolve

    project = load_project(config)
    return _open(project, resolve(project, ref), native=native)


def promote(
    change: StageChange, ref: str | None = None, config: Path | str | None = None
) -> RegistryChange:
    """Register ``ref`` (if needed) and assign it ``change.stage``; or roll the stage back /
    unassign it, as ``change`` (:class:`mlx.registry.promote.StageChange`) asks.

    Returns :class:`mlx.registry.change.RegistryChange`; refusals raise
    :class:`mlx.errors.PromotionRefused` (exit 1).
    """
    from mlx.registry.promote import change_stage

    return change_stage(load_project(config), ref, change)


def demote(
    ref: str | None = None,
    *,
    stage: str,
    reason: str | None = None,
    push: bool = False,
    config: Path | str | None = None,
) -> RegistryChange:
    """Unassign ``stage`` from its current holder (or from the version ``ref`` names)."""
    from mlx.registry.rollback import demote as _demote

    return _demote(load_project(config), ref, stage=stage, reason=reason, push=push)


def deprecate(
    name: str | None = None,
    version: str | None = None,
    *,
    reason: str | None = None,
    push: bool = False,
    config: Path | str | None = None,
) -> RegistryChange:
    """Deprecate an artifact (``NAME@deprecated``) or deregister a version (``NAME@vX.Y.Z!``)."""
    from mlx.registry.deprecate import deprecate as _deprecate

    project = load_project(config)
    return _deprecate(project, name or project.config.model.name, version, reason=reason, push=push)


def show(name: str | None = None, config: Path | str | None = None) -> ShowResult:
    """Registry state: artifacts, latest versions, stage holders."""
    from mlx.registry.queries import show as _show

    return _show(load_project(config), name)


def history(name: str | None = None, config: Path | str | None = None) -> HistoryResult:
    """The journal of registry events, newest first."""
    from mlx.registry.queries import history as _history

    return _history(load_project(config), name)


def lineage(ref: str | None = None, config: Path | str | None = None) -> Lineage:
    """Commit, data, params, seed, metrics, parent version, runner, packages of a model."""
    from mlx.registry.lineage import lineage as _lineage

    return _lineage(load_project(config), ref)


def runs(
    pattern: str | None = None,
    config: Path | str | None = None,
    all_branches: bool = False,
    sort: str | None = None,
    limit: int | None = None,
    passed_only: bool = False,
) -> RunsResult:
    """Every trained run reachable from Git (branches, registry versions, DVC experiments)."""
    from mlx.experiments.runs import list_runs

    return list_runs(load_project(config), pattern, all_branches, sort, limit, passed_only)


def diff(ref_a: str, ref_b: str | None = None, config: Path | str | None = None) -> DiffResult:
    """What changed between two models and what it did (params, code, data, metrics)."""
    from mlx.experiments.diff import diff_models

    return diff_models(load_project(config), ref_a, ref_b)


def check_ref(ref: str, config: Path | str | None = None) -> CheckRefResult:
    """What a registry tag means (event, name, version, stage); for CI on tag pushes."""
    from mlx.adapters.git import Git
    from mlx.registry.queries import check_ref as _check_ref

    start = Path.cwd()
    if config is not None:
        start = Path(config) if Path(config).is_dir() else Path(config).resolve().parent
    return _check_ref(ref, Git.discover(start))


def monitor_compare(
    ref_a: str,
    ref_b: str,
    *,
    config: Path | str | None = None,
    logs: Path | str | None = None,
    since: str | None = None,
    labels: Path | str | None = None,
    access_log: Path | str | None = None,
) -> Comparison:
    """Compare two served versions on the prediction logs (``logs``, default
    ``serve.prediction_log.dir``): agreement, score shift, latency, and with ``labels``
    each one's live metrics and a significance test; see :mod:`mlx.monitor.compare`."""
    from mlx.monitor.compare import compare
    from mlx.monitor.current import parse_since

    project = load_project(config)
    log_dir = Path(logs) if logs is not None else project.resolve(project.config.serve.prediction_log.dir)  # fmt: skip
    return compare(
        project,
        ref_a,
        ref_b,
        log_dir=log_dir,
        since=parse_since(since) if since else None,
        labels_file=Path(labels) if labels is not None else None,
        access_log=Path(access_log) if access_log is not None else None,
    )


def monitor(
    ref: str | None = None,
    current: Path | str | None = None,
    *,
    config: Path | str | None = None,
    since: str | None = None,
    reference: Path | str | None = None,
    labels: Path | str | None = None,
    report: Path | str | None = None,
    summary: Path | str | None = None,
    score: bool = True,
    on_drift: str | None = None,
) -> MonitorReport:
    """Compare current data (a file or a prediction-log folder) with a model's reference.

    ``ref`` is a model folder (default: the config's model folder). Returns a
    :class:`mlx.monitor.engine.MonitorReport`; ``report``/``summary`` write HTML and
    markdown; under GitHub Actions the verdict also goes to ``$GITHUB_OUTPUT``.
    ``on_drift="retrain"`` (default: ``monitor.on_drift``) retrains on drift; see
    :mod:`mlx.workflows.monitoring`.
    """
    from mlx.workflows.monitoring import run_monitor

    return run_monitor(
        find_project(config, required=ref is None or current is None),
        ref,
        _path(current),
        since=since,
        reference=_path(reference),
        labels=_path(labels),
        report=_path(report),
        summary=_path(summary),
        score=score,
        on_drift=on_drift,
    )


def _path(value: Path | str | None) -> Path | None:
    return Path(value) if value is not None else None


def train(
    config: Path | str | None = None,
    runner: str | None = None,
    commit: bool = False,
    progress: Callable[[int, int], None] | None = None,
    ship_data: bool = False,
    log: Callable[[str], None] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    name: str | None = None,
) -> TrainResult:
    """Train, export to ONNX, check parity, track with DVC; see :mod:`mlx.workflows.train`.

    ``runner`` names a runner from ``runners:`` (see docs/runners.md); ``log`` receives
    remote runners' output, one line per call. ``overrides`` are ``--set KEY=VALUE``
    strings (or a parsed mapping) that change this run's config only; ``name`` labels
    the run. Both are recorded in the model's ``metadata.run``."""
    from mlx.config.overrides import parse_overrides
    from mlx.workflows.train import train as run

    parsed = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    return run(
        load_project(config, parsed),
        runner,
        commit=commit,
        progress=progress,
        ship_data=ship_data,
        log=log,
        name=name,
    )


def evaluate(
    config: Path | str | None = None,
    ref: str | None = None,
    commit: bool = False,
    runner: str | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalResult:
    """Evaluate a model (default: the working-tree model) with gates and checks.

    ``runner`` (an ssh runner) scores the committed model on that host; results are
    written and declared here."""
    from mlx.workflows.evaluate import run_evaluation

    return run_evaluation(load_project(config), ref, commit=commit, runner=runner, log=log)


def hook_pre_commit(config: Path | str | None = None) -> PreCommitResult:
    """The pre-commit hook's checks: the staged config, the data when it changed."""
    from mlx.ci.precommit import pre_commit

    return pre_commit(config)


def hook_pre_push(
    lines: Iterable[str], remote: str | None = None, config: Path | str | None = None
) -> PrePushResult:
    """The pre-push hook's check: registry tags only leave with their files in the DVC
    remote. ``lines`` are git's pre-push input lines."""
    from mlx.ci.prepush import pre_push

    return pre_push(lines, remote, config)


def serve(
    config: Path | str | None = None,
    ref: str | list[str] | None = None,
    options: ServeOptions | None = None,
) -> ServePlan:
    """Resolve, verify and prepare serving ``ref``; returns a plan to ``run()`` (blocks
    until SIGTERM) or ``exec()``. ``options`` (:class:`mlx.serve.plan.ServeOptions`)
    override mlops.yaml's ``serve`` for this run. ``ref`` may be a list: every model is
    served, the first is the default."""
    from mlx.serve.plan import prepare

    first = ref[0] if isinstance(ref, list) and ref else ref
    return prepare(find_project(config, required=not isinstance(first, str)), ref, options)


def score_batch(
    input: Path | str,
    output: Path | str,
    config: Path | str | None = None,
    ref: str | None = None,
    *,
    on_error: str | None = None,
    chunk_rows: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    runner: str | None = None,
) -> Any:
    """Score a CSV/Parquet file into another with the model ``ref``; see
    :mod:`mlx.scoring.files`. Bad rows: ``on_error`` fail (exit 1) or skip (reported).
    ``runner`` names a dask runner: partitions are scored on its workers
    (:mod:`mlx.runners.dask_score`). Returns the scorer's result (``to_dict()``)."""
    from mlx.workflows.score import score_batch as run

    return run(
        find_project(config, required=ref is None),
        ref,
        Path(input),
        Path(output),
        on_error=on_error,
        chunk_rows=chunk_rows,
        threads=threads,
        progress=progress,
        runner=runner,
    )


def tune(
    config: Path | str | None = None,
    trials: int | None = None,
    jobs: int | None = None,
    apply: bool = False,
    progress: Callable[..., None] | None = None,
    runner: str | None = None,
    log: Callable[[str], None] | None = None,
) -> TuneResult:
    """Hyperparameter search over ``tune.space`` (Optuna TPE + median pruning); every
    trial is recorded in ``<model.path>/tune/trials.json``; see :mod:`mlx.workflows.tune`.

    ``progress(done, total, best_so_far)`` is called as trials finish; ``runner`` (a dask
    runner) runs the trials on its cluster."""
    from mlx.workflows.tune import tune as run

    return run(
        load_project(config), trials=trials, jobs=jobs, apply=apply, progress=progress,
        runner=runner, log=log,
    )  # fmt: skip

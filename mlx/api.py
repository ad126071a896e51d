"""The Python API: what the CLI calls, and what a notebook or CI script can call.

Functions take plain arguments, return result objects with ``to_dict()``, and raise
:class:`mlx.errors.MlxError` subclasses. Heavy libraries are imported inside the
functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlx.config import load_project
from mlx.config.model import ProjectConfig


def init(
    path: Path | str = ".",
    example: bool = False,
    remote: str | None = None,
    hooks: bool = False,
    ci: str | None = None,
):
    """Create or complete an mlx project in ``path``; see :mod:`mlx.scaffold`.

    ``hooks`` installs the git hooks (:mod:`mlx.ci.hooks`); ``ci="github"`` writes the
    GitHub Actions workflows (:mod:`mlx.ci.github`).
    """
    from mlx.scaffold import init_project

    return init_project(Path(path), example=example, remote=remote, hooks=hooks, ci=ci)


@dataclass
class ValidateResult:
    config_path: str
    model: str
    task: str
    data: Any = None  # ValidationReport when data was checked
    schema_written: str | None = None
    notes: list[str] = field(default_factory=list)
    runner: dict[str, Any] | None = None  # where the data check ran, when not here

    @property
    def ok(self) -> bool:
        return self.data is None or self.data.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": {
                "path": self.config_path,
                "valid": True,
                "model": self.model,
                "task": self.task,
            },
            "data": self.data.to_dict() if self.data is not None else None,
            "schema_written": self.schema_written,
            "notes": self.notes,
            **({"runner": self.runner} if self.runner else {}),
        }


def validate(
    config: Path | str | None = None,
    config_only: bool = False,
    infer: bool = False,
    data: Path | str | None = None,
    runner: str | None = None,
    log=None,
) -> ValidateResult:
    """Check the config, then (unless ``config_only``) the data against its rules.

    ``infer`` first writes a pandera schema inferred from the data to ``data.schema``
    (or ``schema.yaml`` beside the training data) and then validates against it.
    ``runner`` (an ssh runner) checks the committed data on that host instead; the
    config is always checked here.
    """
    project = load_project(config)
    cfg = project.config
    result = ValidateResult(str(project.path), cfg.model.name, cfg.model.task)
    if config_only:
        return result
    from mlx.data import validate as validation

    target = project.resolve(data) if data is not None else project.resolve(cfg.data.train)
    if runner is not None and _remote_validate(project, runner, target, infer, result, log):
        return result
    if infer:
        result.schema_written, note = _infer_schema(project, target)
        if note:
            result.notes.append(note)
            project = _with_schema(project, result.schema_written)
    result.data = validation.validate_file(project, target)
    return result


def _remote_validate(project, runner, target, infer, result, log) -> bool:
    """Validate on the runner's host when it is an ssh runner; returns whether it did."""
    from mlx.errors import UsageError

    name, spec = project.runner(runner)
    if spec.kind != "ssh":
        if spec.kind == "dask":
            result.notes.append(f"runner {name!r} is a Dask cluster; validate ran here")
        return False
    if infer:
        raise UsageError("--infer writes a schema into this work tree; run it without --runner")
    from mlx.data.report import Failure, ValidationReport
    from mlx.runners import get_runner
    from mlx.runners.ssh import SshRunner
    from mlx.runners.ssh_checks import validate as remote

    ssh = get_runner(project, name)
    assert isinstance(ssh, SshRunner)  # spec.kind is "ssh"
    report, result.runner = remote(ssh, project, target, log)
    failures = [Failure(**f) for f in report.pop("failures")]
    report.pop("ok", None)
    result.data = ValidationReport(**report, failures=failures)
    return True


def _infer_schema(project: ProjectConfig, data_path: Path) -> tuple[str, str | None]:
    from mlx.data import schema as schema_mod
    from mlx.data.validate import read_training_frame
    from mlx.util.atomic import write_text

    cfg = project.config
    frame = read_training_frame(project, data_path)
    specs = schema_mod.infer_specs(frame, cfg.data)
    ref = cfg.data.schema_file or str(Path(cfg.data.train).parent / "schema.yaml")
    write_text(project.resolve(ref), schema_mod.schema_yaml(specs, cfg.data, cfg.model.task))
    note = None
    if cfg.data.schema_file is None:
        note = f"wrote {ref}; add `schema: {ref}` under `data:` in {project.path.name} to use it"
    return ref, note


def _with_schema(project: ProjectConfig, ref: str) -> ProjectConfig:
    data = project.config.data.model_copy(update={"schema_file": ref})
    return ProjectConfig(project.config.model_copy(update={"data": data}), project.path)


# --- registry ------------------------------------------------------------------------


def resolve_model(ref: str | None = None, config: Path | str | None = None):
    """What a model reference names (``NAME#STAGE``, ``NAME@vX.Y.Z``, commit, folder...).

    Returns :class:`mlx.registry.refs.ResolvedModel`; :class:`RefError` if it names nothing.
    """
    from mlx.registry.refs import resolve

    return resolve(load_project(config), ref)


def open_model(ref: str | None = None, config: Path | str | None = None, native: bool = False):
    """Resolve ``ref`` and give it a local folder with verified ``model.onnx`` + metadata.

    Returns :class:`mlx.registry.materialize.LocalModel`.
    """
    from mlx.registry.materialize import open_model as _open
    from mlx.registry.refs import resolve

    project = load_project(config)
    return _open(project, resolve(project, ref), native=native)


def promote(
    ref: str | None = None,
    *,
    stage: str,
    version: str | None = None,
    bump: str | None = None,
    force: bool = False,
    reason: str | None = None,
    push: bool = False,
    rollback: bool = False,
    unassign: bool = False,
    config: Path | str | None = None,
):
    """Register (if needed) and assign ``stage``; or roll the stage back / unassign it.

    Returns :class:`mlx.registry.promote.RegistryChange`; refusals raise
    :class:`mlx.errors.PromotionRefused` (exit 1).
    """
    from mlx.errors import UsageError
    from mlx.registry import promote as P

    project = load_project(config)
    if rollback and unassign:
        raise UsageError("--rollback and --unassign are exclusive")
    if rollback or unassign:
        if version or bump or force:
            raise UsageError("--version, --bump and --force apply to promotions, not rollbacks")
    if rollback:
        return P.rollback(
            project, ref or project.config.model.name, stage=stage, reason=reason, push=push
        )
    if unassign:
        return P.demote(project, ref, stage=stage, reason=reason, push=push)
    return P.promote(
        project,
        ref,
        stage=stage,
        version=version,
        bump=bump,
        force=force,
        reason=reason,
        push=push,
    )


def demote(
    ref: str | None = None,
    *,
    stage: str,
    reason: str | None = None,
    push: bool = False,
    config: Path | str | None = None,
):
    """Unassign ``stage`` from its current holder (or from the version ``ref`` names)."""
    from mlx.registry.promote import demote as _demote

    return _demote(load_project(config), ref, stage=stage, reason=reason, push=push)


def deprecate(
    name: str | None = None,
    version: str | None = None,
    *,
    reason: str | None = None,
    push: bool = False,
    config: Path | str | None = None,
):
    """Deprecate an artifact (``NAME@deprecated``) or deregister a version (``NAME@vX.Y.Z!``)."""
    from mlx.registry.deprecate import deprecate as _deprecate

    project = load_project(config)
    return _deprecate(project, name or project.config.model.name, version, reason=reason, push=push)


def show(name: str | None = None, config: Path | str | None = None):
    """Registry state: artifacts, latest versions, stage holders."""
    from mlx.registry.queries import show as _show

    return _show(load_project(config), name)


def history(name: str | None = None, config: Path | str | None = None):
    """The journal of registry events, newest first."""
    from mlx.registry.queries import history as _history

    return _history(load_project(config), name)


def lineage(ref: str | None = None, config: Path | str | None = None):
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
):
    """Every trained run reachable from Git (branches, registry versions, DVC experiments)."""
    from mlx.experiments.runs import list_runs

    return list_runs(load_project(config), pattern, all_branches, sort, limit, passed_only)


def diff(ref_a: str, ref_b: str | None = None, config: Path | str | None = None):
    """What changed between two models and what it did (params, code, data, metrics)."""
    from mlx.experiments.diff import diff_models

    return diff_models(load_project(config), ref_a, ref_b)


def check_ref(ref: str, config: Path | str | None = None):
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
):
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
):
    """Compare current data (a file or a prediction-log folder) with a model's reference.

    ``ref`` is a model folder (default: the config's model folder). Returns a
    :class:`mlx.monitor.engine.MonitorReport`; ``report``/``summary`` write HTML and
    markdown; under GitHub Actions the verdict also goes to ``$GITHUB_OUTPUT``.
    ``on_drift="retrain"`` (default: ``monitor.on_drift``) retrains on drift.
    """
    from mlx.errors import UsageError
    from mlx.monitor import outputs, pipeline
    from mlx.monitor.current import parse_since

    project = _optional_project(config, required=ref is None or current is None)
    model = pipeline.open_reference(project, ref)
    if current is not None:
        current_path = Path(current)
    elif project is not None and project.config.monitor.current:
        current_path = project.resolve(project.config.monitor.current)
    else:
        raise UsageError(
            "no current data", hint="pass --current FILE|LOGDIR or set monitor.current"
        )
    result = pipeline.monitor(
        project,
        model,
        current_path,
        since=parse_since(since) if since else None,
        reference_file=Path(reference) if reference is not None else None,
        labels_file=Path(labels) if labels is not None else None,
        score=score,
    )
    action = on_drift or (project.config.monitor.on_drift if project else "none")
    if action == "retrain" and result.drift:
        from mlx.workflows.retrain import retrain

        if project is None:
            raise UsageError("--on-drift retrain needs an mlops.yaml")
        result.retrain = retrain(project, result)
    html = outputs.write_html(result, Path(report)) if report is not None else None
    if html is not None:
        result.outputs["report"] = str(html)
    if summary is not None:
        result.outputs["summary"] = str(outputs.write_summary(result, Path(summary)))
    if outputs.write_github(result, html):
        result.outputs["github"] = outputs.github_outputs(result, html)
    return result


def _optional_project(config: Path | str | None, required: bool) -> ProjectConfig | None:
    """The project, or None when there is no mlops.yaml and the caller can do without."""
    from mlx.config import find_config
    from mlx.errors import ConfigError

    if config is not None or required:
        return load_project(config)
    try:
        found = find_config()
    except ConfigError:
        return None
    return load_project(found)


def train(
    config: Path | str | None = None,
    runner: str | None = None,
    commit: bool = False,
    progress=None,
    ship_data: bool = False,
    log=None,
    overrides: list[str] | dict[str, Any] | None = None,
    name: str | None = None,
):
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
    log=None,
):
    """Evaluate a model (default: the working-tree model) with gates and checks.

    ``runner`` (an ssh runner) scores the committed model on that host; results are
    written and declared here."""
    from mlx.workflows.evaluate import run_evaluation

    return run_evaluation(load_project(config), ref, commit=commit, runner=runner, log=log)


def _score_batch_on_runner(project, runner, spec, input, output, on_error, progress):
    """Batch scoring on a dask runner; None for the local runner (score here)."""
    from mlx.errors import UsageError

    if project is None:
        raise UsageError("--runner needs a project (its mlops.yaml names the runners)")
    name, runner_spec = project.runner(runner)
    if runner_spec.kind == "local":
        return None
    if runner_spec.kind != "dask":
        raise UsageError(
            f"runner {name!r} is {runner_spec.kind}; batch scoring runs locally or on a dask runner",
            hint="run `mlx serve --batch` on that host, or use a dask runner",
        )
    from mlx.runners import require_extra

    require_extra("dask", f"the dask runner {name!r}", "distributed", "dask.dataframe")
    from mlx.runners.dask_score import score_file_on_cluster

    cfg = project.config.serve
    return score_file_on_cluster(
        runner_spec,
        name,
        spec,
        Path(input),
        Path(output),
        on_error=on_error or cfg.batch.on_error,
        allow_non_finite=cfg.allow_non_finite,
        progress=progress,
    )


def hook_pre_commit(config: Path | str | None = None):
    """The pre-commit hook's checks: the staged config, the data when it changed."""
    from mlx.ci.precommit import pre_commit

    return pre_commit(config)


def hook_pre_push(lines, remote: str | None = None, config: Path | str | None = None):
    """The pre-push hook's check: registry tags only leave with their files in the DVC
    remote. ``lines`` are git's pre-push input lines."""
    from mlx.ci.prepush import pre_push

    return pre_push(lines, remote, config)


def _serving_project(config: Path | str | None, ref: str | None) -> ProjectConfig | None:
    """The project, or None when serving a model folder from outside any project."""
    if config is None and ref is not None:
        from mlx.config.loader import find_config
        from mlx.errors import ConfigError

        try:
            find_config()
        except ConfigError:
            return None
    return load_project(config)


def serve(config: Path | str | None = None, ref: str | list[str] | None = None, **options: Any):
    """Resolve, verify and prepare serving ``ref``; returns a plan to ``run()`` (blocks
    until SIGTERM) or ``exec()``. Options: host, port, workers, threads, token,
    max_batch_size, max_delay_us, max_queue, access_log, prediction_log, json_output,
    follow, interval, fetch, shadow, canary (["REF=10%"]), split ("A=50,B=50"). ``ref``
    may be a list: every model is served, the
    first is the default."""
    from mlx.serve.plan import prepare

    first = ref[0] if isinstance(ref, list) and ref else ref
    return prepare(
        _serving_project(config, first if isinstance(first, str) else None), ref, **options
    )


def score_batch(
    input: Path | str,
    output: Path | str,
    config: Path | str | None = None,
    ref: str | None = None,
    *,
    on_error: str | None = None,
    chunk_rows: int | None = None,
    threads: int | None = None,
    progress=None,
    runner: str | None = None,
):
    """Score a CSV/Parquet file into another with the model ``ref``; see
    :mod:`mlx.scoring.files`. Bad rows: ``on_error`` fail (exit 1) or skip (reported).
    ``runner`` names a dask runner: partitions are scored on its workers
    (:mod:`mlx.runners.dask_score`)."""
    from mlx.config.sections import ServeConfig
    from mlx.scoring.files import score_file
    from mlx.serve.model import ServedModel
    from mlx.serve.resolve import resolve_model

    project = _serving_project(config, ref)
    cfg = project.config.serve if project is not None else ServeConfig()
    spec = resolve_model(project, ref)
    if runner is not None:
        scored = _score_batch_on_runner(project, runner, spec, input, output, on_error, progress)
        if scored is not None:
            return scored
    from mlx.util.rowchunks import workers_default

    # row chunks on a thread pool of one-thread runs: scales better than onnxruntime's
    # own intra-op threads on tree models (docs/benchmarks.md, "LightGBM → ONNX export")
    workers = (cfg.batch.threads if threads is None else threads) or workers_default()
    model = ServedModel.load(spec, threads=1)
    return score_file(
        model,
        Path(input),
        Path(output),
        chunk_rows=chunk_rows or cfg.batch.chunk_rows,
        on_error=on_error or cfg.batch.on_error,
        allow_non_finite=cfg.allow_non_finite,
        progress=progress,
        workers=workers,
    )


def tune(
    config: Path | str | None = None,
    trials: int | None = None,
    jobs: int | None = None,
    apply: bool = False,
    progress=None,
):
    """Hyperparameter search over ``tune.space`` (Optuna TPE + median pruning); every
    trial is recorded in ``<model.path>/tune/trials.json``; see :mod:`mlx.workflows.tune`.

    ``progress(done, total, best_so_far)`` is called as trials finish."""
    from mlx.workflows.tune import tune as run

    return run(load_project(config), trials=trials, jobs=jobs, apply=apply, progress=progress)

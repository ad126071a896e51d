"""``mlx tune``: an Optuna study over LightGBM params, every trial recorded in Git.

The search: Optuna's TPE sampler seeded from ``model.seed`` and its median pruner on
LightGBM's per-round validation metric (:mod:`mlx.train.search` fits each trial with
the train stage's own code). Trials run on threads (LightGBM releases the GIL), ``jobs``
at a time, each with ``cores // jobs`` LightGBM threads.

Reproducible by construction: trials are asked in rounds of ``jobs``; every trial of a
round is sampled from the same history and told back in trial-number order before the
next round is asked, and the pruner compares a running trial only with trials complete
before its round began (a frozen view of the study). Thread timing therefore never
reaches the sampler or the pruner: the same seed, data, space and ``jobs`` give the same
trials and the same best. ``timeout`` is the exception (it counts seconds).

Ctrl-C stops the running trials at their next boosting round (recorded as failed,
reason "interrupted"), keeps every finished one and writes the table; the table is also
written after every round, so even a killed search leaves what finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mlx.config.model import ProjectConfig
from mlx.errors import ConfigError, ConfigIssue, MissingExtra
from mlx.experiments import trials as table
from mlx.runners import TuneJob, get_runner
from mlx.workflows.tune_rounds import RemoteTrial, Rounds, remote_submit, run_rounds
from mlx.workflows.tune_study import (
    SnapshotPruner,
    TrialRunner,
    best_trial,
    distribution,
    probe_values,
    table_doc,
)

if TYPE_CHECKING:
    pass

# progress(done, total, best value so far or None)
Progress = Callable[[int, int, "float | None"], None]


@dataclass
class TuneResult:
    name: str
    model_dir: str
    table: str  # the trials table, relative to the project root
    metric: str
    direction: str
    seed: int
    jobs: int
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    counts: dict[str, int]
    interrupted: bool
    duration_s: float
    applied: dict[str, Any] | None = None
    runner: dict[str, Any] | None = None  # with --runner: where the trials ran
    notes: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def tune(
    project: ProjectConfig,
    trials: int | None = None,
    jobs: int | None = None,
    apply: bool = False,
    progress: Progress | None = None,
    runner: str | None = None,
    log: Callable[[str], None] | None = None,
) -> TuneResult:
    """Run the study of ``tune:`` in mlops.yaml; see the module docstring. ``runner``
    (a dask runner) runs the trials as tasks on its cluster; the study stays here."""
    try:
        import optuna
    except ImportError:
        raise MissingExtra("tune", "mlx tune", "optuna") from None
    from mlx.adapters import dvc
    from mlx.adapters.git import Git
    from mlx.data.validate import load_schema_text
    from mlx.train import search
    from mlx.train.fit import check_params

    cfg = project.config
    tcfg = cfg.tune
    config_file = str(project.path)
    lines = _lines(project)
    if not tcfg.space:
        raise ConfigError(
            "nothing to tune: mlops.yaml has no tune.space",
            [
                ConfigIssue(
                    config_file,
                    "tune.space",
                    "required by mlx tune: LightGBM params to search",
                    lines.get("tune"),
                )
            ],
            hint="e.g. tune: {space: {num_leaves: {kind: int, low: 8, high: 255}}}",
        )
    check_params(cfg.model.params, config_file)
    search.check_space(cfg, {k: probe_values(d) for k, d in tcfg.space.items()}, config_file, lines)
    metric = tcfg.metric or search.default_metric(cfg.model.task)
    maximize = search.higher_is_better(metric)
    n_trials = trials if trials is not None else tcfg.trials
    chosen = get_runner(project, runner) if runner is not None else None
    remote = chosen is not None and chosen.placement("tune") == "there"

    git = Git.discover(project.root)
    data_path = project.resolve(cfg.data.train)
    dvc.require_data(data_path)
    data = search.prepare(cfg, data_path, load_schema_text(project))
    reuse = search.reuses_datasets(list(tcfg.space))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = SnapshotPruner(
        optuna.pruners.MedianPruner(
            n_startup_trials=tcfg.startup_trials, n_warmup_steps=tcfg.warmup_rounds
        )
        if tcfg.prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=cfg.model.seed),
        pruner=cast(Any, pruner),  # duck-typed: optuna calls only prune(study, trial)
    )
    distributions = {k: distribution(optuna, d) for k, d in tcfg.space.items()}
    stop = threading.Event()

    def rounds(slots: int, threads: int | None) -> Rounds:
        wanted = (jobs if jobs is not None else tcfg.jobs) or slots  # 0: one per slot
        n_jobs = max(1, min(wanted, n_trials))
        per_trial = threads or max(1, slots // n_jobs)
        doc = table_doc(project, git, data, data_path, metric, maximize, n_jobs, per_trial, n_trials)  # fmt: skip
        return Rounds(
            optuna, study, pruner, distributions, n_trials, n_jobs, tcfg.timeout,
            table.table_path(project.model_dir), doc, maximize, progress, time.perf_counter(),
        )  # fmt: skip

    if remote:
        assert chosen is not None
        with chosen.trial_pool(TuneJob(project, data, log)) as pool:
            plan = rounds(pool.slots, 1)  # one LightGBM thread per task
            plan.doc["study"]["runner"] = pool.runner

            def remote_trial(trial: Any) -> RemoteTrial:
                return RemoteTrial(
                    trial.number, dict(trial.params), distributions, study.direction,
                    pruner.inner, pruner.frozen(), cfg, metric, 1, reuse, tcfg.prune,
                    plan.doc["round_metric"],
                )  # fmt: skip

            records, interrupted = run_rounds(
                plan, remote_submit(pool.executor, pool.data, remote_trial), stop
            )
    else:
        plan = rounds(_cores(), None)
        per_trial = plan.doc["study"]["threads_per_trial"]
        run_one = TrialRunner(
            data, cfg, metric, per_trial, reuse, tcfg.prune, plan.doc["round_metric"], stop
        )
        with cf.ThreadPoolExecutor(max_workers=plan.jobs, thread_name_prefix="mlx-tune") as tp:
            records, interrupted = run_rounds(plan, lambda trial: tp.submit(run_one, trial), stop)
    n_jobs, started, out_path = plan.jobs, plan.started, plan.out_path

    best = best_trial(study)
    counts = {s: sum(r["state"] == s for r in records) for s in table.STATES}
    result = TuneResult(
        name=cfg.model.name,
        model_dir=project.relative(project.model_dir),
        table=project.relative(out_path),
        metric=metric,
        direction="maximize" if maximize else "minimize",
        seed=cfg.model.seed,
        jobs=n_jobs,
        trials=records,
        best=best,
        counts=counts,
        interrupted=interrupted,
        duration_s=round(time.perf_counter() - started, 3),
        runner=plan.doc["study"].get("runner"),
    )
    if best is None:
        result.notes.append("no trial completed, so there is no best params")
    elif apply and not interrupted:
        result.applied = apply_params(project, best["params"])
        result.next_steps += ["mlx train", "mlx eval"]
    elif apply:
        result.notes.append("interrupted: --apply skipped (run again, or apply the best by hand)")
    else:
        result.next_steps.append("mlx tune --apply  (writes the best params into model.params)")
    result.next_steps.append(f"git add {result.table}  (records the sweep for `mlx runs`)")
    return result


def apply_params(project: ProjectConfig, params: dict[str, Any]) -> dict[str, Any]:
    """Write ``params`` into ``model.params``, editing only those values, in the file
    that holds them: the config's ``params_file`` (params.yaml) when it has
    ``model.params``, else mlops.yaml."""
    from mlx.config.loader import parse_config
    from mlx.util.atomic import write_text
    from mlx.util.yamledit import YamlEditError, set_mapping_values

    config_text = project.path.read_text(encoding="utf-8")
    target = project.path
    params_file = project.config.params_file
    if params_file:
        candidate = project.resolve(params_file)
        if candidate.is_file() and _has_params(candidate.read_text(encoding="utf-8")):
            target = candidate
    before = target.read_text(encoding="utf-8")
    old = project.config.model.params
    changed = {k: v for k, v in params.items() if k not in old or old[k] != v}
    try:
        after = set_mapping_values(before, ("model", "params"), changed)
    except YamlEditError as exc:
        raise ConfigError(
            f"cannot write the best params into {target}: {exc}",
            hint="set them by hand: " + ", ".join(f"{k}={v!r}" for k, v in params.items()),
        ) from None

    def read_params(name: str) -> str | None:
        path = project.resolve(name)
        if path == target:
            return after
        return path.read_text(encoding="utf-8") if path.is_file() else None

    text = after if target == project.path else config_text
    check = parse_config(text, str(project.path), read_params=read_params)  # must load
    if any(check.model.params.get(k) != v for k, v in params.items()):
        raise ConfigError(f"writing the best params into {target} would not read back")
    if after != before:
        write_text(target, after)
    return {"file": project.relative(target), "params": params, "changed": sorted(changed)}


def _has_params(text: str) -> bool:
    from mlx.util import yamlsafe

    try:
        doc = yamlsafe.safe_load(text)
    except yamlsafe.yaml.YAMLError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("model"), dict) and "params" in doc["model"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _lines(project: ProjectConfig) -> dict[str, int]:
    from mlx.util.yamledit import key_lines

    try:
        return key_lines(project.path.read_text(encoding="utf-8"))
    except Exception:  # the loader has read it already; lines only decorate messages
        return {}

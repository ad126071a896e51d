"""The rounds of an ``mlx tune`` study, wherever its trials run.

Each round: freeze the pruner's view, ask ``jobs`` trials, run them (threads here, or
tasks on a runner's cluster), tell them back in trial-number order, write the table.
The round structure, not the executor, is what makes a study reproducible, so a study
whose trials run on a Dask cluster gives the same trials as one on local threads with
the same ``jobs`` and threads per trial.

A remote trial (:func:`run_remote_trial`) gets everything the pruner decides on inside
its task: the round's complete trials (the frozen view) are added to a fresh in-memory
study there, the trial's sampled params are enqueued, so the asked trial and Optuna's
own pruner code see exactly what a local trial sees. Its per-round values come back
with the record and are reported on the real trial here before it is told.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlx.workflows.tune_study import SnapshotPruner, TrialRunner, tell, write_table

Submit = Callable[[Any], "cf.Future[dict[str, Any]]"]
Progress = Callable[[int, int, "float | None"], None]
INTERMEDIATE = "_intermediate"  # a remote record's per-round values (not in the table)


@dataclass
class Rounds:
    """One study's loop state and settings."""

    optuna: Any
    study: Any
    pruner: SnapshotPruner
    distributions: dict[str, Any]
    n_trials: int
    jobs: int
    timeout: float | None
    out_path: Path
    doc: dict[str, Any]
    maximize: bool
    progress: Progress | None
    started: float


def run_rounds(
    r: Rounds, submit: Submit, stop: threading.Event
) -> tuple[list[dict[str, Any]], bool]:
    """Run rounds until ``n_trials`` are done, the timeout passes or Ctrl-C; returns the
    records (trial-number order) and whether it was interrupted."""
    records: list[dict[str, Any]] = []
    interrupted = False
    while len(records) < r.n_trials and not interrupted:
        if r.timeout is not None and time.perf_counter() - r.started >= r.timeout:
            r.doc["study"]["stopped_by"] = "timeout"
            break
        size = min(r.jobs, r.n_trials - len(records))
        batch: list[Any] = []
        futures: dict[cf.Future[dict[str, Any]], Any] = {}
        try:
            r.pruner.freeze(r.study)
            while len(batch) < size:
                batch.append(r.study.ask(r.distributions))
            for trial in batch:
                futures[submit(trial)] = trial
            _wait(futures, records, r.n_trials, r.maximize, r.progress)
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            for future in futures:
                future.cancel()  # not started yet; running local trials stop at `stop`
            cf.wait(futures)
        results = {t.number: _outcome(f) for f, t in futures.items()}
        for trial in batch:  # in trial-number order: the sampler's history is ordered
            record = results.get(trial.number) or _failed(trial, "interrupted")
            for step, value in sorted(record.pop(INTERMEDIATE, {}).items()):
                trial.report(value, step)  # a remote trial's rounds, for later pruning
            tell(r.optuna, r.study, trial, record)
            records.append(record)
        write_table(r.out_path, r.doc, records, r.study, r.started, interrupted)
    if not records:
        write_table(r.out_path, r.doc, records, r.study, r.started, interrupted)
    return records, interrupted


def _outcome(future: cf.Future[dict[str, Any]]) -> dict[str, Any] | None:
    if future.cancelled():
        return None
    try:
        return future.result()
    except Exception as exc:  # a remote task that died (worker lost, ...): a failed trial
        return {"state": "failed", "value": None, "reason": f"{type(exc).__name__}: {exc}"}


def _failed(trial: Any, reason: str) -> dict[str, Any]:
    return {
        "number": trial.number,
        "params": dict(trial.params),
        "state": "failed",
        "value": None,
        "reason": reason,
        "duration_s": 0.0,
    }


def _wait(
    futures: dict[cf.Future[dict[str, Any]], Any],
    records: list[dict[str, Any]],
    total: int,
    maximize: bool,
    progress: Progress | None,
) -> None:
    """Until the round is done, reporting each finished trial (display only: nothing the
    search decides depends on the order trials finish in)."""
    pending = set(futures)
    while pending:
        _, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        if progress is not None:
            finished = [o for f in futures if f.done() and (o := _outcome(f)) is not None]
            progress(
                len(records) + len(finished), total, best_value([*records, *finished], maximize)
            )


def best_value(records: list[dict[str, Any]], maximize: bool) -> float | None:
    values: list[float] = [r["value"] for r in records if r.get("state") == "complete"]
    if not values:
        return None
    return max(values) if maximize else min(values)


# --- trials on a runner's cluster -----------------------------------------------------


@dataclass
class RemoteTrial:
    """What one trial's task needs besides the data (picklable)."""

    number: int
    params: dict[str, Any]
    distributions: dict[str, Any]
    direction: Any  # optuna StudyDirection
    pruner: Any  # Optuna's pruner (the inner one: the view is ``complete``)
    complete: list[Any]  # FrozenTrials complete when the round began
    cfg: Any  # MlxConfig
    metric: str
    threads: int
    reuse: bool
    prune: bool
    round_metric: str


def remote_submit(executor: cf.Executor, data: Any, make: Callable[[Any], RemoteTrial]) -> Submit:
    def submit(trial: Any) -> cf.Future[dict[str, Any]]:
        return executor.submit(run_remote_trial, data, make(trial))

    return submit


def run_remote_trial(data: Any, spec: RemoteTrial) -> dict[str, Any]:
    """One trial, in a runner's task: the same :class:`TrialRunner` as a local trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=spec.direction, pruner=spec.pruner)
    if spec.complete:
        study.add_trials(spec.complete)
    study.enqueue_trial(spec.params)
    trial = study.ask(spec.distributions)
    run = TrialRunner(
        data, spec.cfg, spec.metric, spec.threads, spec.reuse, spec.prune, spec.round_metric,
        threading.Event(),
    )  # fmt: skip
    record = run(trial)
    record["number"] = spec.number
    values = study.trials[-1].intermediate_values
    record[INTERMEDIATE] = {int(k): float(v) for k, v in values.items()}
    return record

"""The pieces of an ``mlx tune`` study: Optuna distributions from ``tune.space``, the
pruner's frozen view (what keeps parallel rounds reproducible) and the trials table
document (format: :mod:`mlx.experiments.trials`)."""

from __future__ import annotations

import math
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.errors import MlxError
from mlx.experiments import trials as table

if TYPE_CHECKING:
    import optuna

    from mlx.adapters.git import Git
    from mlx.config.model import MlxConfig, ProjectConfig
    from mlx.train.search import TuneData


class SnapshotPruner:
    """Optuna's pruner, shown only the trials complete when the current round began."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._view: _FrozenStudy | None = None

    def freeze(self, study: Any) -> None:
        from optuna.trial import TrialState

        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self._view = _FrozenStudy(study.direction, list(done))

    def prune(self, study: Any, trial: Any) -> bool:
        return bool(self.inner.prune(self._view or study, trial))

    def frozen(self) -> list[Any]:
        """The complete trials of the current view (what a remote trial's pruner gets)."""
        return self._view.get_trials() if self._view is not None else []


class _FrozenStudy:
    """What a percentile pruner reads from a study: its direction and complete trials."""

    def __init__(self, direction: Any, complete: list[Any]) -> None:
        self.direction = direction
        self._complete = complete

    def get_trials(self, deepcopy: bool = False, states: Any = None) -> list[Any]:
        from optuna.trial import TrialState

        if states is not None and TrialState.COMPLETE not in states:
            return []
        return list(self._complete)


def tell(optuna: Any, study: Any, trial: Any, record: dict[str, Any]) -> None:
    state = optuna.trial.TrialState
    if record["state"] == "complete":
        study.tell(trial, record["value"])
    elif record["state"] == "pruned":
        study.tell(trial, state=state.PRUNED)
    else:
        study.tell(trial, state=state.FAIL)


def best_trial(study: Any) -> dict[str, Any] | None:
    try:
        best = study.best_trial
    except ValueError:  # no complete trial
        return None
    return {"trial": best.number, "params": dict(best.params), "value": best.value}


def distribution(optuna: Any, dim: Any) -> Any:
    d = optuna.distributions
    if dim.kind == "categorical":
        return d.CategoricalDistribution(list(dim.choices))
    if dim.kind == "int":
        return d.IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1))
    return d.FloatDistribution(float(dim.low), float(dim.high), log=dim.log, step=dim.step)


def probe_values(dim: Any) -> list[Any]:
    if dim.kind == "categorical":
        return list(dim.choices)
    cast = int if dim.kind == "int" else float
    return list(dict.fromkeys([cast(dim.low), cast(dim.high)]))


def _space_doc(dim: Any) -> dict[str, Any]:
    if dim.kind == "categorical":
        return {"kind": "categorical", "choices": list(dim.choices)}
    cast = int if dim.kind == "int" else float
    out = {"kind": dim.kind, "low": cast(dim.low), "high": cast(dim.high), "log": dim.log}
    if dim.step is not None:
        out["step"] = cast(dim.step)
    return out


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def table_doc(
    project: ProjectConfig,
    git: Git,
    data: TuneData,
    data_path: Path,
    metric: str,
    maximize: bool,
    jobs: int,
    threads: int,
    n_trials: int,
) -> dict[str, Any]:
    """The trials table document before any trial: the study, the space, the data."""
    from mlx.adapters import dvc
    from mlx.train import search

    cfg = project.config
    tcfg = cfg.tune
    return {
        "format": table.FORMAT,
        "kind": table.KIND,
        "model": cfg.model.name,
        "study": {
            "id": uuid.uuid4().hex[:12],
            "sampler": "TPESampler",
            "seed": cfg.model.seed,
            "pruner": "MedianPruner" if tcfg.prune else None,
            "startup_trials": tcfg.startup_trials,
            "warmup_rounds": tcfg.warmup_rounds,
            "jobs": jobs,
            "threads_per_trial": threads,
            "trials_asked": n_trials,
            "timeout": tcfg.timeout,
            "started_at": _now(),
        },
        "metric": metric,
        "direction": "maximize" if maximize else "minimize",
        "round_metric": search.round_metric(cfg.model.task, metric),
        "evaluated_on": "validation",
        "space": {k: _space_doc(d) for k, d in tcfg.space.items()},
        "base_params": dict(cfg.model.params),
        "data": {
            "path": project.relative(data_path),
            "md5": dvc.file_md5(data_path),
            "rows": data.rows,
            "fit_rows": len(data.x_fit),
            "valid_rows": len(data.x_valid),
        },
        "code": {"commit": git.head(), "dirty": git.is_dirty(), "branch": git.branch()},
    }


def write_table(
    path: Path,
    doc: dict[str, Any],
    records: list[dict[str, Any]],
    study: optuna.Study,
    started: float,  # time.perf_counter() when the study began
    interrupted: bool,
) -> None:
    doc["study"] |= {
        "finished_at": _now(),
        "duration_s": round(time.perf_counter() - started, 3),
        "interrupted": interrupted,
    }
    doc["trials"] = records
    doc["best"] = best_trial(study)
    table.write_table(path, doc)


class _Pruned(Exception):
    def __init__(self, step: int, value: float) -> None:
        self.step, self.value = step, value


class _Interrupted(Exception):
    pass


class TrialRunner:
    """Runs one asked trial on a worker thread and returns its table record: the fit
    reports LightGBM's per-round metric to the trial and stops when the pruner says so
    or ``stop`` is set (Ctrl-C); any failure is recorded, never raised."""

    def __init__(
        self,
        data: TuneData,
        cfg: MlxConfig,
        metric: str,
        threads: int,
        reuse: bool,
        prune: bool,
        round_metric: str,
        stop: threading.Event,
    ) -> None:
        self.data, self.cfg, self.metric, self.threads = data, cfg, metric, threads
        self.reuse, self.prune, self.round_metric = reuse, prune, round_metric
        self.stop: threading.Event = stop

    def __call__(self, trial: Any) -> dict[str, Any]:
        from mlx.train import search

        began = time.perf_counter()
        record: dict[str, Any] = {"number": trial.number, "params": dict(trial.params)}

        def on_round(step: int, value: float) -> None:
            if self.stop.is_set():
                raise _Interrupted
            if self.prune:
                trial.report(value, step)
                if trial.should_prune():
                    raise _Pruned(step, value)

        try:
            fit = search.fit_trial(
                self.data, self.cfg, trial.params, self.metric, self.threads, on_round, self.reuse
            )
        except _Pruned as p:
            record |= {
                "state": "pruned",
                "value": None,
                "round_value": p.value,
                "rounds": p.step + 1,
                "reason": f"pruned at round {p.step + 1}: {self.round_metric} worse than the "
                "median of earlier trials",
            }
        except _Interrupted:
            record |= _failed("interrupted")
        except MlxError as exc:
            record |= _failed(exc.message)
        except Exception as exc:  # a trial that breaks is recorded; the search goes on
            record |= _failed(f"{type(exc).__name__}: {exc}")
        else:
            if math.isnan(fit.value):
                record |= _failed(f"{self.metric} cannot be computed on the validation rows")
            else:
                record |= {
                    "state": "complete",
                    "value": fit.value,
                    "rounds": fit.rounds,
                    "best_iteration": fit.best_iteration,
                    "metrics": fit.metrics,
                    "reason": None,
                }
        record["duration_s"] = round(time.perf_counter() - began, 3)
        return record


def _failed(reason: str) -> dict[str, Any]:
    return {"state": "failed", "value": None, "reason": reason}

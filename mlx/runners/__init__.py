"""Where stages run: here, on a host over ssh, or on a Dask cluster.

Every runner answers one question per stage, :meth:`Runner.placement`: ``"there"`` (it
runs the stage itself: call its method with the stage's job), ``"here"`` (the stage
runs in this process; the result says so) or an :class:`UnsupportedStage` error (exit 2,
naming what the runner does run). The table, also in docs/runners.md:

==========  =========  =========  ===========
stage       local      ssh        dask
==========  =========  =========  ===========
validate    here       there      here
train       there      there      there (the boosting; the stage runs here)
evaluate    here       there      here
score       here       —          there
tune        here       —          there (the trials; the study runs here)
==========  =========  =========  ===========

The stages themselves are always the same pure functions (``run_train_stage``,
``run_eval_stage``, ...): in this process (local), in ``python -m mlx.<pkg>.stage`` on
the host with a typed job file (ssh), or here with the work spread by Dask (dask).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from mlx.config.model import ProjectConfig
from mlx.errors import MissingExtra, UsageError
from mlx.metadata import ModelMetadata

if TYPE_CHECKING:
    from mlx.registry.materialize import Baseline
    from mlx.scoring.files import BatchResult
    from mlx.serve.spec import ModelSpec

Log = Callable[[str], None]
Progress = Callable[[int, int], None]
Stage = Literal["validate", "train", "evaluate", "score", "tune"]
Placement = Literal["here", "there"]
STAGES: tuple[Stage, ...] = ("validate", "train", "evaluate", "score", "tune")


#: what each kind of runner does with each stage (absent: it refuses the stage)
RUNS: dict[str, dict[Stage, Placement]] = {
    "local": {"validate": "here", "train": "there", "evaluate": "here", "score": "here",
              "tune": "here"},
    "ssh": {"validate": "there", "train": "there", "evaluate": "there"},
    "dask": {"validate": "here", "train": "there", "evaluate": "here", "score": "there",
             "tune": "there"},
}  # fmt: skip


class UnsupportedStage(UsageError):
    """A runner asked to run a stage it does not run."""


@dataclass
class TrainJob:
    project: ProjectConfig
    data_path: Path  # absolute, on this machine
    out_dir: Path  # where the model files must end up, on this machine
    test_path: Path | None = None
    schema_text: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    ship_data: bool = False  # remote runners: send the data instead of `dvc pull` there
    log: Log | None = None  # remote runners: one call per line of the host's output

    def say(self, line: str) -> None:
        if self.log is not None:
            self.log(line)


@dataclass
class ValidateJob:
    project: ProjectConfig
    data_path: Path  # absolute, on this machine (a committed DVC-tracked file)
    log: Log | None = None


@dataclass
class EvalJob:
    project: ProjectConfig
    model_dir: Path  # the model folder to score (verified before it travels)
    out_dir: Path  # where the result files must end up, on this machine
    baseline: Baseline | None = None  # resolved here: hosts have no registry
    log: Log | None = None


@dataclass
class ScoreJob:
    project: ProjectConfig
    model: ModelSpec  # the verified model to score with
    input_path: Path
    output_path: Path
    on_error: str
    allow_non_finite: bool
    progress: Progress | None = None


@dataclass
class TuneJob:
    project: ProjectConfig
    data: Any  # mlx.train.search.TuneData: the rows every trial fits on
    log: Log | None = None


@dataclass
class TrialPool:
    """Where a study's trials run: ``executor.submit(fn, data, ...)`` runs ``fn`` there
    with ``data`` (the job's TuneData, shipped once) as its first argument."""

    executor: Executor
    slots: int  # trials that can run at once
    data: Any  # what to pass for the job's data (the data itself, or a handle to it)
    runner: dict[str, Any]  # where the trials ran, for the trials table


@dataclass
class RemoteValidation:
    report: dict[str, Any]  # the host's ValidationReport as JSON
    runner: dict[str, Any]  # where it ran (the runner's description)


@dataclass
class RemoteEvaluation:
    doc: dict[str, Any]  # the metrics document
    plots: dict[str, Any]  # DVC plot definitions
    runner: dict[str, Any]


class Runner(Protocol):
    name: str

    @property
    def kind(self) -> str: ...

    def placement(self, stage: Stage) -> Placement: ...

    def here_note(self, stage: Stage) -> str | None: ...

    def train(self, job: TrainJob, progress: Progress | None = None) -> ModelMetadata: ...

    def validate(self, job: ValidateJob) -> RemoteValidation: ...

    def evaluate(self, job: EvalJob) -> RemoteEvaluation: ...

    def score(self, job: ScoreJob) -> BatchResult: ...

    def trial_pool(self, job: TuneJob) -> AbstractContextManager[TrialPool]: ...


class BaseRunner:
    """Placement from ``runs``; a stage the runner does not run raises one error."""

    kind: ClassVar[str]
    runs: ClassVar[Mapping[Stage, Placement]]

    def __init__(self, name: str) -> None:
        self.name = name

    def placement(self, stage: Stage) -> Placement:
        where = self.runs.get(stage)
        if where is None:
            raise self._unsupported(stage)
        return where

    def here_note(self, stage: Stage) -> str | None:
        """The note a result carries when this runner's stage ran in this process."""
        if self.kind == "local":
            return None
        return f"runner {self.name!r} ({self.kind}) does not run {stage} itself; {stage} ran here"

    def where_here(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "where": "here"}

    def _unsupported(self, stage: Stage) -> UnsupportedStage:
        runs = ", ".join(s for s in STAGES if s in self.runs)
        able = " or ".join(f"a {kind} runner" for kind, table in RUNS.items() if stage in table)
        return UnsupportedStage(
            f"runner {self.name!r} ({self.kind}) does not run {stage} (it runs {runs}); "
            f"{stage} runs on {able}",
            hint=_HINTS.get((self.kind, stage), "drop --runner to run it here"),
        )

    def _not_there(self, stage: Stage) -> UnsupportedStage:
        """A method called for a stage this runner places here (a caller's bug)."""
        return UnsupportedStage(
            f"runner {self.name!r} ({self.kind}) runs {stage} here, not itself",
            hint="call the stage in this process (Runner.placement says where)",
        )

    def train(self, job: TrainJob, progress: Progress | None = None) -> ModelMetadata:
        raise self._not_there("train")

    def validate(self, job: ValidateJob) -> RemoteValidation:
        raise self._not_there("validate")

    def evaluate(self, job: EvalJob) -> RemoteEvaluation:
        raise self._not_there("evaluate")

    def score(self, job: ScoreJob) -> BatchResult:
        raise self._not_there("score")

    @contextmanager
    def trial_pool(self, job: TuneJob) -> Iterator[TrialPool]:
        raise self._not_there("tune")
        yield  # pragma: no cover  (a generator, so this is a context manager)


_HINTS: dict[tuple[str, str], str] = {
    ("ssh", "score"): "run `mlx serve --batch` on that host, or use a dask runner",
    ("ssh", "tune"): "run `mlx tune` on that host, or use a dask runner",
}


def get_runner(project: ProjectConfig, name: str | None) -> Runner:
    runner_name, spec = project.runner(name)
    if spec.kind == "local":
        from mlx.runners.local import LocalRunner

        return LocalRunner(runner_name)
    if spec.kind == "ssh":
        require_extra("ssh", f"the ssh runner {runner_name!r}", "asyncssh")
        from mlx.runners.ssh import SshRunner

        return SshRunner(runner_name, spec)
    if spec.kind == "dask":  # its extras are checked by the stages it runs itself
        from mlx.runners.dask import DaskRunner

        return DaskRunner(runner_name, spec)
    raise UsageError(f"runner {runner_name!r} has kind {spec.kind!r}, which mlx cannot run")


def require_extra(extra: str, purpose: str, *modules: str) -> None:
    """Raise :class:`MissingExtra` naming ``mlx-mlops[extra]`` if a module cannot import."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # ImportError, or lightgbm.dask's own error without dask
            raise MissingExtra(extra, purpose, module) from None

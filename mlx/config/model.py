"""The typed model of ``mlops.yaml``: the only place its structure is defined.

The keys ``data.{train,target,id}`` and ``model.{name,task,params,seed}`` are a fixed
contract; everything else has a default. Paths are relative to the folder holding
``mlops.yaml`` (the project root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlx.config.runners import RunnerConfig
from mlx.config.sections import (
    NAME_PATTERN,
    EvalConfig,
    MonitorConfig,
    RegistryConfig,
    ServeConfig,
    StorageConfig,
    Strict,
)
from mlx.config.tuning import TuneConfig

Task = Literal["binary", "multiclass", "regression"]
ColumnType = Literal["int", "float", "bool", "category", "string", "datetime"]

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "log_loss", "accuracy", "precision", "recall", "f1", "brier"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


class ColumnSpec(Strict):
    """Rules for one column; ``mlx validate`` turns these into a pandera schema."""

    type: ColumnType = Field(description="int, float, bool, category, string or datetime.")
    nullable: bool = Field(True, description="Whether missing values are allowed.")
    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    values: list[str] | None = Field(
        None, description="Allowed values (category/string columns); others fail validation."
    )
    unique: bool = Field(False, description="Values must be unique (ids).")

    @model_validator(mode="after")
    def _coherent(self) -> ColumnSpec:
        numeric = self.type in ("int", "float")
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError("min/max apply to int and float columns only")
        if self.values is not None and self.type not in ("category", "string"):
            raise ValueError("values apply to category and string columns only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class DataConfig(Strict):
    train: str = Field(description="Training data, CSV or Parquet, DVC-tracked.")
    target: str = Field(description="Label column.")
    id: str | None = Field(None, description="Row id column; kept in outputs, never a feature.")
    test: str | None = Field(
        None, description="Explicit test file; when set, no split is made from the training data."
    )
    schema_file: str | None = Field(
        None,
        alias="schema",
        description="A pandera YAML schema (see `mlx validate --infer`). Combines with `columns`.",
    )
    columns: dict[str, ColumnSpec] = Field(
        default_factory=dict, description="Inline column rules, by column name."
    )
    features: list[str] | None = Field(
        None,
        description="Feature columns in serving order (default: every column but target, id, drop).",
    )
    drop: list[str] = Field(default_factory=list, description="Columns that are never features.")
    categorical: list[str] | None = Field(
        None,
        description="Categorical feature columns (default: columns typed category/string, "
        "else non-numeric columns in the data).",
    )
    allow_extra_columns: bool = Field(
        True, description="Columns in the data but not in the schema are allowed."
    )

    @model_validator(mode="after")
    def _roles_distinct(self) -> DataConfig:
        if self.id is not None and self.id == self.target:
            raise ValueError("[id] id and target must be different columns")
        for role, col in (("target", self.target), ("id", self.id)):
            if col is None:
                continue
            if col in self.drop:
                raise ValueError(f"[drop] {role} column {col!r} is listed in drop")
            if self.features and col in self.features:
                raise ValueError(f"[features] {role} column {col!r} cannot be a feature")
        if self.features is not None and len(set(self.features)) != len(self.features):
            raise ValueError("[features] lists a column twice")
        return self


class SplitConfig(Strict):
    test_size: float = Field(0.2, gt=0, lt=1, description="Fraction of rows held out for testing.")
    stratify: bool = Field(True, description="Stratify the split by the target (classification).")
    seed: int | None = Field(None, description="Split seed (default: model.seed).")


class ModelConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Artifact name in the registry (GTO name).")
    task: Task = Field(description="binary, multiclass or regression.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="LightGBM parameters (num_iterations, learning_rate, ...).",
    )
    seed: int = Field(42, description="Seed for LightGBM and the split; same seed, same bytes.")
    early_stopping_rounds: int | None = Field(
        None,
        ge=1,
        description="Stop when the validation metric has not improved for this many rounds.",
    )
    validation_size: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Share of training rows used for early stopping (when enabled).",
    )
    path: str | None = Field(None, description="Model folder (default: models/<name>).")
    max_categories: int = Field(
        1000, ge=2, description="A categorical feature with more levels than this is an error."
    )

    @field_validator("params")
    @classmethod
    def _no_reserved_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        reserved = {"objective", "num_class", "seed", "random_state", "categorical_feature"}
        clash = sorted(reserved & set(params))
        if clash:
            raise ValueError(
                f"{', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set by mlx from "
                "model.task, model.seed and the schema; remove from params"
            )
        return params

    @property
    def folder(self) -> str:
        return self.path or f"models/{self.name}"


class MlxConfig(Strict):
    """Root of ``mlops.yaml``.

    Cross-field errors start with ``[dotted.key]`` so the loader can point at that key.
    """

    version: Literal[1] = Field(1, description="Config format version.")
    params_file: str | None = Field(
        None,
        description="A YAML file (e.g. params.yaml, DVC's default params file) holding "
        "model.params, model.seed, model.early_stopping_rounds and split, so that "
        "`dvc exp run -S model.params.num_leaves=63` edits it and never mlops.yaml.",
    )
    data: DataConfig = Field(description="Training data, its roles and its rules.")
    model: ModelConfig = Field(description="What to train: name, task, LightGBM params, seed.")
    split: SplitConfig = Field(
        default_factory=SplitConfig, description="How the test split is made."
    )
    eval: EvalConfig = Field(
        default_factory=EvalConfig, description="Metrics, gates, slices and checks."
    )
    registry: RegistryConfig = Field(
        default_factory=RegistryConfig, description="Stages and promotion rules."
    )
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="Which DVC remote holds artifacts."
    )
    serve: ServeConfig = Field(
        default_factory=ServeConfig, description="The online server and batch scoring."
    )
    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig, description="Drift thresholds and retraining."
    )
    tune: TuneConfig = Field(
        default_factory=TuneConfig,
        description="Hyperparameter search (`mlx tune`): budget, metric, search space.",
    )
    runners: dict[str, RunnerConfig] = Field(
        default_factory=dict, description="Named runners: kind local, ssh or dask."
    )
    default_runner: str = Field(
        "local",
        description="Runner `mlx train` uses when --runner is not given (validate and eval "
        "run here unless given --runner).",
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> MlxConfig:
        allowed = METRICS_BY_TASK[self.model.task]
        for metric in self.eval.gates:
            if metric not in allowed:
                raise ValueError(
                    f"[eval.gates.{metric}] not a {self.model.task} metric "
                    f"(one of: {', '.join(allowed)})"
                )
        if self.tune.metric is not None and self.tune.metric not in allowed:
            raise ValueError(
                f"[tune.metric] {self.tune.metric!r} is not a {self.model.task} metric "
                f"(one of: {', '.join(allowed)})"
            )
        stage = self.eval.baseline_stage
        if stage is not None and stage not in self.registry.stages:
            raise ValueError(
                f"[eval.baseline_stage] {stage!r} is not in registry.stages {self.registry.stages}"
            )
        if (
            self.monitor.auto_promote is not None
            and self.monitor.auto_promote not in self.registry.stages
        ):
            raise ValueError(
                f"[monitor.auto_promote] {self.monitor.auto_promote!r} is not a registry stage"
            )
        if self.default_runner != "local" and self.default_runner not in self.runners:
            raise ValueError(
                f"[default_runner] {self.default_runner!r} is not defined under runners "
                f"(defined: {', '.join(sorted(self.runners)) or 'none'})"
            )
        return self


class ProjectConfig:
    """A validated config plus where it came from; resolves paths against the root."""

    def __init__(
        self, config: MlxConfig, path: Path, overrides: dict[str, Any] | None = None
    ) -> None:
        self.config = config
        self.path = path
        self.overrides = overrides or {}  # this run's --set KEY=VALUE, not in the file
        self.root = path.parent

    def resolve(self, relative: str | Path) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root, as written in mlops.yaml, dvc.yaml and
        metadata.json (posix separators; the root itself is ".")."""
        import os

        return Path(os.path.relpath(Path(path).resolve(), self.root.resolve())).as_posix()

    @property
    def model_dir(self) -> Path:
        return self.resolve(self.config.model.folder)

    def runner(self, name: str | None) -> tuple[str, Any]:
        """The runner config for ``name`` (None → default_runner); ``local`` always exists."""
        from mlx.errors import UsageError

        name = name or self.config.default_runner
        if name == "local" and "local" not in self.config.runners:
            from mlx.config.runners import LocalRunner

            return name, LocalRunner()
        try:
            return name, self.config.runners[name]
        except KeyError:
            known = ", ".join(["local", *sorted(self.config.runners)])
            raise UsageError(f"unknown runner {name!r}", hint=f"runners defined: {known}") from None

"""Config: ``tune:``, the search space and budget of ``mlx tune``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlx.config.sections import Strict


class SearchDim(Strict):
    """One LightGBM param to search: a range (int/float, optionally log) or choices."""

    kind: Literal["int", "float", "categorical"] = Field(
        description="int or float (a range from low to high), or categorical (one of choices)."
    )
    low: float | None = Field(None, description="Smallest value (int and float).")
    high: float | None = Field(None, description="Largest value (int and float).")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    step: float | None = Field(
        None, gt=0, description="Spacing of the values (int: default 1; not with log)."
    )
    choices: list[str | int | float | bool] | None = Field(
        None, description="The values to choose from (categorical)."
    )

    @model_validator(mode="after")
    def _coherent(self) -> SearchDim:
        if self.kind == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs a non-empty choices list")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("low, high and log apply to int and float dimensions only")
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError("choices lists a value twice")
            return self
        if self.choices is not None:
            raise ValueError(f"choices apply to categorical dimensions only (kind is {self.kind})")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.kind} dimension needs low and high")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is greater than high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got {self.low:g})")
        if self.log and self.step is not None:
            raise ValueError("step and log: true cannot be combined")
        if self.kind == "int":
            for name, value in (("low", self.low), ("high", self.high), ("step", self.step)):
                if value is not None and float(value) != int(value):
                    raise ValueError(f"{name} of an int dimension must be a whole number")
        return self


class TuneConfig(Strict):
    trials: int = Field(50, ge=1, description="Number of trials (`mlx tune --trials` overrides).")
    timeout: float | None = Field(
        None,
        gt=0,
        description="Stop starting trials after this many seconds (running ones finish).",
    )
    metric: str | None = Field(
        None,
        description="Eval metric to optimise (its direction is known; default: auc, "
        "accuracy or rmse by task).",
    )
    space: dict[str, SearchDim] = Field(
        default_factory=dict,
        description="LightGBM parameter -> search dimension; the rest of model.params stays fixed.",
    )
    jobs: int = Field(
        1,
        ge=0,
        description="Trials run at once, on threads sharing the cores (0 = one per core); "
        "each trial gets cores // jobs LightGBM threads. Trials are proposed in rounds of "
        "this size: the same seed, data, space and jobs give the same trials.",
    )
    prune: bool = Field(
        True,
        description="Median pruning: stop a trial whose per-round validation metric is "
        "worse than the median of earlier complete trials at the same round.",
    )
    startup_trials: int = Field(
        5, ge=0, description="Complete trials before pruning starts (optuna n_startup_trials)."
    )
    warmup_rounds: int = Field(
        10, ge=0, description="Boosting rounds a trial always gets before it may be pruned."
    )

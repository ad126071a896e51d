"""Config sections beyond data/model: eval, registry, storage, serve, monitor (runners:
:mod:`mlx.config.runners`, tune: :mod:`mlx.config.tuning`).

Every field has a default, so a config with only ``data`` and ``model`` is complete.
Field descriptions are the documentation: ``docs/config.md`` is generated from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9_/-]*[a-zA-Z0-9])?$"


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, defaults are validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)


# --- eval -----------------------------------------------------------------------------


class GateSpec(Strict):
    """Thresholds for one metric, with TFX semantics (value bounds + change vs baseline)."""

    min: float | None = Field(None, description="Absolute lower bound on the metric.")
    max: float | None = Field(None, description="Absolute upper bound on the metric.")
    max_degradation: float | None = Field(
        None,
        ge=0,
        description="Largest allowed worsening against the baseline model, in metric units "
        "(direction-aware: a drop for AUC, a rise for log loss). Skipped with no baseline.",
    )
    max_relative_degradation: float | None = Field(
        None,
        ge=0,
        description="Largest allowed worsening against the baseline, as a fraction of the "
        "baseline value (0.02 = 2%). Skipped with no baseline.",
    )


class PerturbationCheck(Strict):
    enabled: bool = Field(True, description="Run the perturbation (noise robustness) check.")
    noise: float = Field(
        0.01,
        gt=0,
        description="Gaussian noise on numeric inputs, as a fraction of each feature's std.",
    )
    max_mean_change: float = Field(
        0.05,
        gt=0,
        description="Largest allowed mean |Δprediction| (probability, or relative for regression).",
    )


class EvalConfig(Strict):
    gates: dict[str, GateSpec] = Field(
        default_factory=dict,
        description="Metric name → thresholds. Metrics: binary auc, log_loss, accuracy, "
        "precision, recall, f1, brier; multiclass accuracy, macro_f1, log_loss; regression "
        "rmse, mae, r2. A gated metric that cannot be computed fails the gate.",
    )
    baseline_stage: str | None = Field(
        "prod", description="Stage whose current model is the baseline for change gates."
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Columns whose values define slices with their own metrics.",
    )
    min_slice_rows: int = Field(
        30, ge=1, description="Slices smaller than this are reported, not scored."
    )
    perturbation: PerturbationCheck = Field(default_factory=PerturbationCheck)
    trivial_baseline: bool = Field(
        True,
        description="Fail when the model does not beat the trivial model "
        "(class prior for classification, the mean for regression).",
    )
    output: str | None = Field(
        None, description="Folder for metrics, plots and the report (default: <model.path>/eval)."
    )


# --- registry and storage -------------------------------------------------------------


class RegistryConfig(Strict):
    stages: list[str] = Field(
        default_factory=lambda: ["dev", "staging", "prod"],
        description="Stages a model version may be assigned to (GTO stage names).",
    )
    require_eval: bool = Field(
        True,
        description="promote refuses commits without passing eval results (--force overrides).",
    )
    git_remote: str = Field(
        "origin", description="Git remote that `--push` sends registry tags to."
    )

    @model_validator(mode="after")
    def _stages_are_names(self) -> RegistryConfig:
        import re

        for stage in self.stages:
            if not re.match(NAME_PATTERN, stage) or "/" in stage:
                raise ValueError(f"stage {stage!r} is not a valid GTO stage name")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages must be unique")
        return self


class StorageConfig(Strict):
    remote: str | None = Field(
        None,
        description="DVC remote to push/pull artifacts (default: the repo's DVC default remote).",
    )


# --- serve ----------------------------------------------------------------------------


class PredictionLogConfig(Strict):
    enabled: bool = Field(True, description="Write prediction logs that `mlx monitor` reads.")
    dir: str = Field("logs/predictions", description="Folder for rotating Parquet prediction logs.")
    sample_rate: float = Field(1.0, ge=0, le=1, description="Fraction of requests logged.")
    max_rows_per_file: int = Field(100_000, ge=1, description="Rotate after this many rows.")
    flush_seconds: float = Field(5.0, gt=0, description="Flush buffered rows at least this often.")
    max_file_seconds: float = Field(
        300.0,
        gt=0,
        description="Complete (close and publish) a log file after this many seconds.",
    )


class BatchConfig(Strict):
    chunk_rows: int = Field(65_536, ge=1, description="Rows per chunk when scoring files.")
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="Bad rows: stop with their row numbers, or skip them and report them."
    )
    threads: int = Field(
        0,
        ge=0,
        description="threads scoring row chunks side by side in batch scoring, each running onnxruntime on one thread (0 = all usable cores).",
    )


class ReleaseConfig(Strict):
    """Releasing a new model while serving (docs/serving.md, "Releasing a new model"):
    shadow, canary and A/B split refs, and the canary's automatic abort. The CLI flags
    ``--shadow``, ``--canary``, ``--split`` add to these."""

    shadow: list[str] = Field(
        default_factory=list,
        description="Refs also scored for every (sampled) request, off the hot path; both "
        "predictions go to the prediction log.",
    )
    shadow_sample: float = Field(
        1.0, ge=0, le=1, description="Share of requests the shadow also scores."
    )
    shadow_queue: int = Field(
        256,
        ge=1,
        description="Primary batches (one or more requests each) waiting for the shadow "
        "before new shadow work is dropped (and counted in mlx_shadow_dropped_total).",
    )
    shadow_process: bool = Field(
        True,
        description="Score each shadow in its own process per worker, at idle CPU priority "
        "(no GIL shared with the primary); false: a low-priority thread in the worker.",
    )
    canary: dict[str, float] = Field(
        default_factory=dict,
        description="Ref -> percent of its model's requests it answers (0-100), e.g. "
        "{churn#staging: 10}.",
    )
    split: dict[str, float] = Field(
        default_factory=dict,
        description="A/B test: ref -> percent (0-100, summing to 100); the first is the primary.",
    )
    sticky_header: str = Field(
        "X-Request-Key",
        description="Header whose value (hashed) keeps a caller on one version; without "
        "it the model's id column is used, else the assignment is random.",
    )
    abort_error_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Abort a canary whose error rate over the window exceeds the primary's "
        "by more than this.",
    )
    abort_p99_ratio: float = Field(
        3.0, gt=0, description="Abort a canary whose p99 latency exceeds the primary's times this."
    )
    abort_window: int = Field(
        200, ge=10, description="Last requests per version the abort rule looks at."
    )
    abort_min_requests: int = Field(
        20, ge=1, description="Requests each side needs in the window before the rule applies."
    )
    policy: Literal["fixed", "thompson"] = Field(
        "fixed",
        description="fixed: the configured shares; thompson: the canary/split shares follow "
        "the rewards clients post to /v2/models/{name}/feedback (Thompson sampling).",
    )
    feedback_ids: int = Field(
        65_536,
        ge=1,
        description="thompson: request ids each worker remembers for feedback (oldest "
        "forgotten first).",
    )
    feedback_ttl_seconds: float = Field(
        3600.0, gt=0, description="thompson: seconds after its answer a request can be rewarded."
    )


class ServeConfig(Strict):
    host: str = Field("127.0.0.1", description="Bind address; loopback unless told otherwise.")
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(
        1, ge=1, description="Processes sharing the port, one onnxruntime thread each."
    )
    threads: int = Field(1, ge=1, description="onnxruntime intra-op threads per worker.")
    max_batch_size: int = Field(64, ge=1, description="Most rows coalesced into one session call.")
    max_delay_us: int = Field(
        0,
        ge=0,
        description="Wait this long for more requests before a call (0 = drain what is queued).",
    )
    max_queue: int = Field(2048, ge=1, description="Queued requests before new ones get 503.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    allow_non_finite: bool = Field(
        False,
        description="Accept NaN (as missing) and inf/-inf in numeric inputs; without it "
        "they get 400 and null is the one missing value.",
    )
    token_env: str = Field(
        "MLX_SERVE_TOKEN", description="Environment variable holding the optional bearer token."
    )
    keep_alive_seconds: float = Field(
        30.0,
        gt=0,
        description="Close idle keep-alive connections after this many seconds.",
    )
    request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="A request whose headers and body have not all arrived this many seconds "
        "after its first byte gets 408 and its connection is closed.",
    )
    graceful_seconds: float = Field(
        30.0, gt=0, description="On SIGTERM, wait this long for in-flight requests to finish."
    )
    access_log: bool = Field(
        True, description="Write one JSON access-log line per request to stderr."
    )
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)


# --- monitor --------------------------------------------------------------------------


class MonitorThresholds(Strict):
    """Drift and data-quality thresholds; docs/monitoring.md has the measured error rates.

    A drift statistic counts only when it exceeds its threshold *and* what sampling noise
    explains at ``noise_pvalue`` (so small windows do not raise false alarms and large
    ones do not flag negligible shifts).
    """

    psi: float = Field(
        0.1,
        gt=0,
        description="PSI above which a feature drifted (reference-decile bins for numeric "
        "features, categories plus an 'unseen' bin for categorical ones).",
    )
    ks: float = Field(
        0.1,
        gt=0,
        le=1,
        description="KS statistic (largest CDF gap, an effect size) above which a numeric "
        "feature drifted.",
    )
    wasserstein: float = Field(
        0.1,
        gt=0,
        description="Wasserstein distance over the reference's central 98%, in reference "
        "standard deviations, above which a numeric feature drifted (0.1 = a tenth of a "
        "standard deviation).",
    )
    noise_pvalue: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="Sampling-noise gate: a statistic counts as drift only when noise alone "
        "would exceed it with at most this probability (two-sample contingency test for "
        "categorical features, null distributions of PSI, KS and Wasserstein for numeric).",
    )
    unseen_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of a categorical feature's values that are categories unseen in "
        "training above which it fails (data quality and drift).",
    )
    null_rate_increase: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Rise in a feature's null (or inf) rate over the reference that fails "
        "data quality.",
    )
    out_of_range_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of a numeric feature's values outside the training range that "
        "fails data quality.",
    )
    prediction_psi: float = Field(
        0.1,
        gt=0,
        description="PSI on the model's scores above which predictions drifted (the KS and "
        "Wasserstein thresholds apply to the scores too).",
    )
    drift_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Importance-weighted share of drifted features (gain share from "
        "training; equal weights without it) at or above which the dataset drifted.",
    )
    metric_degradation: float | None = Field(
        None,
        ge=0,
        description="With --labels: relative worsening of a live metric against the one "
        "recorded at train time that counts as drift (0.05 = 5%; default: report only).",
    )


class MonitorConfig(Strict):
    current: str | None = Field(
        None, description="Default current data: a file or a prediction-log folder."
    )
    min_rows: int = Field(
        500,
        ge=1,
        description="A feature with fewer current values than this is 'not enough data', "
        "not drift.",
    )
    thresholds: MonitorThresholds = Field(default_factory=MonitorThresholds)
    on_drift: Literal["none", "retrain"] = Field(
        "none",
        description="What to do on dataset drift: nothing, or retrain (train + eval on "
        "data.train, commit on retrain_branch when the gates pass).",
    )
    retrain_branch: str = Field(
        "mlx/retrain-{date}",
        description="Branch the retrained model is committed on ({date} = UTC date).",
    )
    auto_promote: str | None = Field(
        None,
        description="Stage to promote a retrained model to when its gates pass (default: never).",
    )

"""What a worker needs to serve, as plain JSON: written by the CLI, read by workers.

Workers must not import the config model (pydantic) or anything that resolves
references (git, DVC), so the parent flattens everything they need into this file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # workers read the spec as JSON: no pydantic there
    from mlx.metadata import ModelMetadata


@dataclass
class ModelSpec:
    """One verified model on local disk and the facts the server reports about it."""

    name: str
    version: str  # registry version (v1.2.0) or a short md5 when unregistered
    commit: str  # commit the model came from ("" when unknown)
    md5: str  # md5 of model.onnx, verified by the parent and again by each worker
    onnx_path: str
    task: str  # binary | multiclass | regression
    classes: list[Any] | None
    id_column: str | None
    features: list[dict[str, Any]]  # metadata.json "features"
    ref: str = ""  # what the user asked for (label for logs and /v2)
    serving_path: str | None = None  # the block variant (variant.py), when it applies
    serving_md5: str | None = None
    role: str = "primary"  # primary | shadow | canary | split (docs/serving.md, releases)
    share: float = 0.0  # canary/split: share of its model's requests (0-1)

    @classmethod
    def from_metadata(
        cls, meta: ModelMetadata, onnx_path: Path, md5: str, version: str, commit: str, ref: str
    ) -> ModelSpec:
        return cls(
            name=meta.name,
            version=version,
            commit=commit,
            md5=md5,
            onnx_path=str(onnx_path),
            task=meta.task,
            classes=meta.classes,
            id_column=meta.id,
            features=[f.to_dict() for f in meta.features],
            ref=ref,
        )


@dataclass
class PredictionLogSpec:
    enabled: bool = True
    dir: str = "logs/predictions"
    sample_rate: float = 1.0
    max_rows_per_file: int = 100_000
    flush_seconds: float = 5.0
    max_file_seconds: float = 300.0


@dataclass
class ReleaseSpec:
    """Releases (docs/serving.md, "Releasing a new model"): follow stages, shadow, canary."""

    follow: bool = False
    interval: float = 10.0  # seconds between looks at the registry
    fetch: bool = False  # also fetch the git remote's tags
    config: str = ""  # mlops.yaml the follower process loads (empty: none, nothing to follow)
    refs: list[str] = field(default_factory=list)  # the refs given, in order (one per model)
    shadow: list[str] = field(default_factory=list)  # refs scored off the hot path
    shadow_sample: float = 1.0
    shadow_queue: int = 256  # pending shadow batches before shadow work is dropped
    shadow_process: bool = True  # score each shadow in its own idle-priority process
    canary: dict[str, float] = field(default_factory=dict)  # ref -> share (0-1)
    split: dict[str, float] = field(default_factory=dict)  # ref -> share (0-1), A/B test
    sticky_header: str = "x-request-key"
    abort_error_rate: float = 0.05  # canary error rate above primary's + this: abort
    abort_p99_ratio: float = 3.0  # canary p99 above primary's p99 times this: abort
    abort_window: int = 200  # requests per model in the sliding window
    abort_min_requests: int = 20
    policy: str = "fixed"  # fixed | thompson (the split's shares follow posted rewards)
    feedback_ids: int = 65_536  # thompson: request ids remembered per worker for feedback
    feedback_ttl_seconds: float = 3600.0  # thompson: how long a request id can be rewarded
    generation: int = 0  # set by a worker that starts from release.json (not in the spec file)


@dataclass
class ServeSpec:
    model: ModelSpec  # the default model (the first one given)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 1
    max_batch_size: int = 64
    max_delay_us: int = 0
    max_queue: int = 2048
    max_body_bytes: int = 16 * 1024 * 1024
    allow_non_finite: bool = False
    token: str | None = None
    keep_alive_seconds: float = 30.0
    request_timeout_seconds: float = 5.0
    graceful_seconds: float = 30.0
    access_log: bool = True
    prediction_log: PredictionLogSpec = field(default_factory=PredictionLogSpec)
    run_dir: str = ""  # private folder for the spec, metrics and worker state
    json_output: bool = False  # the supervisor prints one JSON line when ready
    models: list[ModelSpec] = field(default_factory=list)  # every model served, default first
    release: ReleaseSpec = field(default_factory=ReleaseSpec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ServeSpec:
        doc = dict(doc)
        doc["model"] = ModelSpec(**doc["model"])
        doc["prediction_log"] = PredictionLogSpec(**doc.get("prediction_log", {}))
        doc["models"] = [ModelSpec(**m) for m in doc.get("models", [])]
        doc["release"] = ReleaseSpec(**doc.get("release", {}))
        return cls(**doc)

    def all_models(self) -> list[ModelSpec]:
        """Every model served, the default first (``models``, or just ``model``)."""
        return self.models or [self.model]

    def write(self, path: Path) -> None:
        """Write owner-only (the spec may hold the bearer token)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def read(cls, path: Path | str) -> ServeSpec:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

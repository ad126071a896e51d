"""Where stages run: locally, on a host over ssh, or on a Dask cluster.

A runner takes a :class:`TrainJob` and leaves the stage's output files in
``job.out_dir`` (on this machine), returning the metadata the stage wrote. The stage
itself is always :func:`mlx.train.stage.run_train_stage`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlx.config.model import ProjectConfig
from mlx.errors import UsageError


@dataclass
class TrainJob:
    project: ProjectConfig
    data_path: Path  # absolute, on this machine
    out_dir: Path  # where the model files must end up, on this machine
    test_path: Path | None = None
    schema_text: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    ship_data: bool = False  # remote runners: send the data instead of `dvc pull` there


class Runner(Protocol):
    name: str
    kind: str

    def train(
        self, job: TrainJob, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]: ...


def get_runner(project: ProjectConfig, name: str | None) -> Runner:
    runner_name, spec = project.runner(name)
    if spec.kind == "local":
        from mlx.runners.local import LocalRunner

        return LocalRunner(runner_name)
    raise UsageError(
        f"runner {runner_name!r} has kind {spec.kind!r}, which this version cannot run yet"
    )

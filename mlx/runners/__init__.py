"""Where stages run: locally, on a host over ssh, or on a Dask cluster.

A runner takes a :class:`TrainJob` and leaves the stage's output files in
``job.out_dir`` (on this machine), returning the metadata the stage wrote. The stage
itself is always :func:`mlx.train.stage.run_train_stage`: in this process (local), in
``python -m mlx.train.stage`` on the host (ssh), or here with the boosting done by
``lightgbm.dask`` on the cluster (dask). See docs/runners.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlx.config.model import ProjectConfig
from mlx.errors import MissingExtra, UsageError
from mlx.metadata import ModelMetadata

Log = Callable[[str], None]


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


class Runner(Protocol):
    name: str
    kind: str

    def train(
        self, job: TrainJob, progress: Callable[[int, int], None] | None = None
    ) -> ModelMetadata: ...


def get_runner(project: ProjectConfig, name: str | None) -> Runner:
    runner_name, spec = project.runner(name)
    if spec.kind == "local":
        from mlx.runners.local import LocalRunner

        return LocalRunner(runner_name)
    if spec.kind == "ssh":
        require_extra("ssh", f"the ssh runner {runner_name!r}", "asyncssh")
        from mlx.runners.ssh import SshRunner

        return SshRunner(runner_name, spec)
    if spec.kind == "dask":
        require_extra("dask", f"the dask runner {runner_name!r}", "distributed", "lightgbm.dask")
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

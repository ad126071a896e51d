"""The local runner: the stage in this process."""

from __future__ import annotations

import getpass
import platform
import socket
import sys
from typing import Any

from mlx.metadata import ModelMetadata
from mlx.runners import RUNS, BaseRunner, Progress, TrainJob


class LocalRunner(BaseRunner):
    kind = "local"
    runs = RUNS["local"]

    def __init__(self, name: str = "local") -> None:
        super().__init__(name)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "host": socket.gethostname(),
            "user": getpass.getuser(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        }

    def train(self, job: TrainJob, progress: Progress | None = None) -> ModelMetadata:
        from mlx.train.stage import run_train_stage

        context = job.context | {"runner": self.describe()}
        return run_train_stage(
            job.project.config,
            job.data_path,
            job.out_dir,
            test_path=job.test_path,
            schema_text=job.schema_text,
            context=context,
            progress=progress,
        )

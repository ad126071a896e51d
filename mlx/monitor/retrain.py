"""Retraining on drift: train + eval on the configured data, commit on a branch."""

from __future__ import annotations

from typing import Any

from mlx.config.model import ProjectConfig
from mlx.errors import UsageError
from mlx.monitor.engine import MonitorReport


def retrain(project: ProjectConfig, report: MonitorReport) -> dict[str, Any]:
    from mlx import api

    if not hasattr(api, "train") or not hasattr(api, "evaluate"):
        raise UsageError(
            "--on-drift retrain needs `mlx train` and `mlx eval`, which this build lacks",
            hint="run without --on-drift, or update mlx",
        )
    raise UsageError("--on-drift retrain is not implemented yet")

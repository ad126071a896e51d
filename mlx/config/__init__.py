"""The mlops.yaml model and its loader (the only code that parses mlops.yaml)."""

from mlx.config.loader import CONFIG_NAME, find_config, find_project, load_project, parse_config
from mlx.config.model import METRICS_BY_TASK, ColumnSpec, MlxConfig, ProjectConfig

__all__ = [
    "CONFIG_NAME",
    "METRICS_BY_TASK",
    "ColumnSpec",
    "MlxConfig",
    "ProjectConfig",
    "find_config",
    "find_project",
    "load_project",
    "parse_config",
]

"""Builders for test projects from in-memory data (real git, real DVC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tests.conftest import git


def make_project(
    root: Path, frame: pd.DataFrame, config: dict[str, Any], commit: bool = True
) -> Path:
    """`mlx init` in ``root``, the frame as DVC-tracked data/train.csv, ``config`` as mlops.yaml."""
    from mlx import api
    from mlx.adapters import dvc

    api.init(root)
    (root / "data").mkdir(exist_ok=True)
    frame.to_csv(root / "data" / "train.csv", index=False)
    dvc.add(root, [root / "data" / "train.csv"])
    (root / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if "params_file" not in config:
        (root / "params.yaml").unlink(missing_ok=True)  # init's template; this config has none
    _sync_stages(root)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "data and config")
    return root


def _sync_stages(root: Path) -> None:
    """What the next mlx command would do: bring dvc.yaml's stages in line with the config."""
    from mlx.config.loader import load_project
    from mlx.errors import ConfigError
    from mlx.experiments.stages import sync

    try:
        sync(load_project(root / "mlops.yaml"))
    except ConfigError:
        pass  # a test about a broken config: the command under test reports it


def config(task: str, target: str = "y", name: str = "m", **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data": {"train": "data/train.csv", "target": target, "id": "row_id"},
        "model": {
            "name": name,
            "task": task,
            "params": {"num_iterations": 30, "num_leaves": 7},
            "seed": 7,
        },
    }
    for key, value in extra.items():
        cfg.setdefault(key, {}).update(value) if isinstance(value, dict) else cfg.__setitem__(
            key, value
        )
    return cfg


def synthetic(task: str, n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Numeric + categorical features with real signal and some missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n).round(2)
    color = rng.choice(["red", "green", "blue", "black"], size=n)
    size = rng.choice(["S", "M", "L"], size=n)
    signal = x1 + 0.3 * x2 + (color == "red") * 1.5 - (size == "S") * 1.0
    if task == "binary":
        y = (signal + rng.normal(0, 1, n) > 2.0).astype(int)
    elif task == "multiclass":
        y = np.digitize(signal + rng.normal(0, 0.7, n), [1.0, 2.5])
        y = np.array(["low", "mid", "high"])[y]
    else:
        y = (3 * signal + rng.normal(0, 0.5, n)).round(3)
    x1 = np.where(rng.uniform(size=n) < 0.05, np.nan, x1.round(4))
    color = np.where(rng.uniform(size=n) < 0.03, None, color)
    return pd.DataFrame(
        {"row_id": np.arange(n), "x1": x1, "x2": x2, "color": color, "size": size, "y": y}
    )


def interruptible(args: list[str], **kwargs: Any):
    """``subprocess.Popen`` for a test that sends SIGINT: the child starts with SIGINT at
    its default even when the test runner inherited it ignored (a background job of a
    non-interactive shell does), so Python in the child turns it into KeyboardInterrupt."""
    import signal
    import subprocess

    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(args, preexec_fn=default_sigint, **kwargs)  # noqa: PLW1509

"""Build the smoke-bench model: 200 trees x 31 leaves, 30 features (as in the team's
pitfall measurements), trained with the real `mlx train` in a throwaway project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


def bench_frame(n: int, features: int = 30, categorical: int = 0, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {"row_id": np.arange(n)}
    signal = np.zeros(n)
    for j in range(features - categorical):
        x = rng.normal(size=n).round(5)
        cols[f"f{j:02d}"] = x
        signal += x * rng.normal()
    for j in range(categorical):
        c = rng.choice([f"c{k}" for k in range(12)], size=n)
        cols[f"cat{j}"] = c
        signal += (np.char.str_len(c.astype(str)) == 3) * 0.5
    cols["y"] = (signal + rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame(cols)


def build(root: Path, rows: int = 20_000, categorical: int = 0) -> Path:
    """Train the bench model in ``root`` (a new project); returns the model folder."""
    import yaml

    from mlx import api
    from mlx.adapters import dvc

    if (root / "models" / "bench" / "model.onnx").exists():
        return root / "models" / "bench"
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    api.init(root)
    (root / "data").mkdir(exist_ok=True)
    bench_frame(rows, categorical=categorical).to_csv(root / "data" / "train.csv", index=False)
    dvc.add(root, [root / "data" / "train.csv"])
    cfg = {
        "data": {"train": "data/train.csv", "target": "y", "id": "row_id"},
        "model": {
            "name": "bench",
            "task": "binary",
            "params": {"num_iterations": 200, "num_leaves": 31, "min_data_in_leaf": 5},
            "seed": 1,
        },
        "eval": {"perturbation": {"enabled": False}},
    }
    (root / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    api.train(root / "mlops.yaml")
    return root / "models" / "bench"


if __name__ == "__main__":
    import sys

    print(build(Path(sys.argv[1]), categorical=int(sys.argv[2]) if len(sys.argv) > 2 else 0))

"""The two benchmark models, trained the normal way with the real ``mlx`` CLI.

- ``churn``: the bundled example (``mlx init --example`` + ``mlx train``): 10 features,
  5 of them categorical strings.
- ``synth``: a 200-tree × 31-leaf binary model on 30 numeric features of synthetic
  data, from its own small ``mlops.yaml`` project.

Each yields ``model.onnx`` (what mlx and the reference apps serve) and
``model.lgb.txt`` (LightGBM's native booster, what MLflow and MLServer serve), so every
server scores with the same trees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.serve.paths import PROJECTS, WORK

SYNTH_FEATURES = [f"f{i:02d}" for i in range(30)]
SYNTH_TRAIN_ROWS = 20_000
SYNTH_YAML = """\
# The serving benchmark's synthetic model: 200 trees x 31 leaves, 30 numeric features.
data:
  train: data/train.parquet
  target: y
model:
  name: synth
  task: binary
  params:
    num_iterations: 200
    num_leaves: 31
    learning_rate: 0.05
    min_data_in_leaf: 20
  seed: 7
"""


@dataclass
class Model:
    name: str
    project: Path
    dir: Path  # the model folder: model.onnx, model.lgb.txt, metadata.json
    metadata: dict

    @property
    def features(self) -> list[dict]:
        return self.metadata["features"]

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]

    @property
    def onnx(self) -> Path:
        return self.dir / "model.onnx"

    @property
    def native(self) -> Path:
        return self.dir / "model.lgb.txt"

    def describe(self) -> str:
        meta = self.metadata
        leaves = meta["params"].get("num_leaves", "?")
        n_cat = sum(f["kind"] == "categorical" for f in self.features)
        return (
            f"{self.name}: {meta['num_trees']} trees × {leaves} leaves, "
            f"{len(self.features)} features ({n_cat} categorical)"
        )


def synth_frame(rows: int, seed: int):
    """Synthetic numeric table with real signal (nonlinear, interactions, mixed scales)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = np.empty((rows, len(SYNTH_FEATURES)), dtype=np.float32)
    for j in range(x.shape[1]):
        kind = j % 3
        if kind == 0:
            x[:, j] = rng.normal(0, 1 + j / 10, rows)
        elif kind == 1:
            x[:, j] = rng.gamma(2.0, 3.0 + j / 5, rows)
        else:
            x[:, j] = rng.uniform(-5, 5, rows)
    logit = (
        0.8 * x[:, 0]
        - 0.15 * x[:, 1]
        + 0.5 * np.sin(x[:, 2])
        + 0.4 * x[:, 3] * (x[:, 5] > 0)
        + 0.05 * x[:, 4] * x[:, 7]
        - 0.3 * np.abs(x[:, 8])
        + 0.2 * x[:, 12]
        + rng.normal(0, 0.5, rows)
    )
    frame = pd.DataFrame(x, columns=SYNTH_FEATURES)
    frame["y"] = (logit > np.median(logit)).astype(np.int64)
    return frame


def _env(home: Path) -> dict[str, str]:
    """An isolated HOME (git identity, DVC remotes) so the benchmark touches nothing else."""
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "DVC_NO_ANALYTICS": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(cmd)}` failed ({proc.returncode}) in {cwd}:\n{proc.stdout}\n{proc.stderr}"
        )


def _mlx() -> str:
    return str(Path(sys.executable).parent / "mlx")


def _prepare_home(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = mlx bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return _env(home)


def _load(name: str, project: Path) -> Model:
    model_dir = project / "models" / name
    meta = json.loads((model_dir / "metadata.json").read_text())
    return Model(name, project, model_dir, meta)


def _fingerprint() -> str:
    """Changes whenever the training code, the example data or the synth config does."""
    import hashlib

    import mlx

    pkg = Path(mlx.__file__).parent
    digest = hashlib.md5(SYNTH_YAML.encode())
    for path in sorted([*(pkg / "train").rglob("*.py"), pkg / "data" / "example.py"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _ready(name: str, project: Path) -> bool:
    d = project / "models" / name
    marker = project.parent / f"{name}.fingerprint"
    files = all((d / f).is_file() for f in ("model.onnx", "model.lgb.txt", "metadata.json"))
    return files and marker.is_file() and marker.read_text() == _fingerprint()


def _mark(name: str, project: Path) -> None:
    (project.parent / f"{name}.fingerprint").write_text(_fingerprint())


def train_models(retrain: bool = False, log=print) -> dict[str, Model]:
    """Train both models, or reuse them while the training code is unchanged."""
    root = PROJECTS / "projects"
    env = _prepare_home(PROJECTS / "home")
    models = {}

    churn = root / "churn"
    if retrain or not _ready("churn", churn):
        log("training the bundled example's model (mlx init --example, mlx train)")
        shutil.rmtree(churn, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        _run([_mlx(), "init", str(churn), "--example"], root, env)
        _run(["git", "add", "-A"], churn, env)
        _run(["git", "commit", "-q", "-m", "Set up mlx"], churn, env)
        _run([_mlx(), "train", "--commit", "--json"], churn, env)
        _mark("churn", churn)
    models["churn"] = _load("churn", churn)

    synth = root / "synth"
    if retrain or not _ready("synth", synth):
        log("training the 200-tree × 31-leaf, 30-feature model (mlx init, mlx train)")
        shutil.rmtree(synth, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        _run([_mlx(), "init", str(synth)], root, env)
        (synth / "data").mkdir(exist_ok=True)
        synth_frame(SYNTH_TRAIN_ROWS, seed=1).to_parquet(synth / "data" / "train.parquet")
        (synth / "mlops.yaml").write_text(SYNTH_YAML)
        _run([str(Path(sys.executable).parent / "dvc"), "add", "data/train.parquet"], synth, env)
        _run(["git", "add", "-A"], synth, env)
        _run(["git", "commit", "-q", "-m", "Set up mlx"], synth, env)
        _run([_mlx(), "train", "--commit", "--json"], synth, env)
        _mark("synth", synth)
    models["synth"] = _load("synth", synth)
    return models


def peer_booster(model: Model) -> Path:
    """The native booster for MLflow and MLServer: the same trees, with the pandas
    category table removed so it takes LightGBM's category codes as plain numbers
    (both peers hand it a float matrix or a frame of floats, not pandas categoricals)."""
    import lightgbm as lgb

    out = WORK / model.name / "peer-model.lgb.txt"  # outside the project: it stays clean
    if out.is_file() and out.stat().st_mtime >= model.native.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    booster = lgb.Booster(model_file=str(model.native))
    booster.pandas_categorical = None
    booster.save_model(str(out))
    return out


def category_codes(model: Model) -> dict[str, list[str]]:
    """Categorical feature → categories in LightGBM's code order (from the booster)."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model.native))
    tables = booster.pandas_categorical or []
    cats = [f["name"] for f in model.features if f["kind"] == "categorical"]
    return dict(zip(cats, [list(map(str, t)) for t in tables], strict=True))

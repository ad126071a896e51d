"""Helpers for registry tests: commits that look exactly like `mlx train` + `mlx eval` output.

``commit_model`` writes the model folder of docs/internals.md (a small fake
``model.onnx`` and ``model.lgb.txt`` tracked with a real ``dvc add``, git-tracked
``metadata.json`` and ``eval/metrics.json``, the ``artifacts:`` entry in ``dvc.yaml``)
and makes a real git commit. Fast tests use it; an end-to-end test uses real training.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import git

_seq = itertools.count(1)


def commit_model(
    project: Path,
    *,
    name: str = "churn",
    passed: bool = True,
    metrics: dict[str, Any] | None = None,
    eval_results: bool = True,
    eval_md5: str | None = None,
    content: bytes | None = None,
    message: str | None = None,
) -> str:
    """Commit a model version in ``project``; returns the commit sha."""
    from mlx.adapters import dvc

    n = next(_seq)
    folder = project / "models" / name
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    content = content if content is not None else f"fake onnx model {n}\n".encode() * 50
    (folder / "model.onnx").write_bytes(content)
    (folder / "model.lgb.txt").write_text(f"tree\nversion=v4\n# fake native model {n}\n")
    dvc.add(project, [folder / "model.onnx", folder / "model.lgb.txt"])
    md5 = hashlib.md5(content).hexdigest()
    metrics = metrics or {"auc": 0.8 + n / 1000, "log_loss": 0.4}
    data_ptr = dvc.read_pointer(project / "data" / "train.csv")
    data = {"path": "data/train.csv", "md5": data_ptr.md5 if data_ptr else None, "rows": 6000}
    head = git(project, "rev-parse", "HEAD")
    metadata = {
        "format": 1,
        "name": name,
        "task": "binary",
        "target": "churned",
        "features": [{"name": "tenure_months", "kind": "numeric"}],
        "onnx": {"file": "model.onnx", "md5": md5},
        "params": {"num_iterations": 20 + n, "learning_rate": 0.1},
        "seed": 42,
        "data": data,
        "code": {"commit": head, "dirty": False, "branch": "main"},
        "packages": {"mlx": "0.1.0", "lightgbm": "4.x"},
        "metrics": metrics,
        "runner": {"name": "local", "kind": "local", "host": "test", "user": "test"},
        "trained_at": "2026-01-01T00:00:00Z",
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    metrics_file = folder / "eval" / "metrics.json"
    if eval_results:
        gate = {"metric": "auc", "rule": "min", "threshold": 0.75, "value": metrics["auc"]}
        gate.update(passed=passed, reason="auc >= 0.75" if passed else "auc below 0.75")
        doc = {
            "format": 1,
            "model": {"name": name, "md5": eval_md5 or md5},
            "data": {"path": "data/train.csv", "md5": data["md5"], "test_rows": 1200},
            "commit": head,
            "evaluated_at": "2026-01-01T00:00:00Z",
            "metrics": metrics,
            "baseline": None,
            "gates": {"passed": passed, "skipped": [], "results": [gate]},
            "checks": {},
            "passed": passed,
        }
        metrics_file.write_text(json.dumps(doc, indent=2) + "\n")
    elif metrics_file.exists():
        metrics_file.unlink()
    dvc_yaml = project / "dvc.yaml"
    doc = yaml.safe_load(dvc_yaml.read_text()) if dvc_yaml.exists() else {}
    doc = doc or {}
    doc.setdefault("artifacts", {})[name] = {
        "path": f"models/{name}/model.onnx",
        "type": "model",
        "desc": f"fake {name} model",
    }
    dvc_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message or f"model {name} #{n}")
    return git(project, "rev-parse", "HEAD")


def tags(project: Path) -> list[str]:
    return sorted(git(project, "tag", "--list").split())


def tag_message(project: Path, tag: str) -> str:
    return git(project, "tag", "-l", "--format=%(contents)", tag)


def run_tool(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a real tool (gto, dvc, git) from the venv in ``project``."""
    import sys

    exe = Path(sys.executable).with_name(args[0])
    cmd = [str(exe) if exe.exists() else args[0], *args[1:]]
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=check)

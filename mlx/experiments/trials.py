"""The trials table ``mlx tune`` writes: ``<model.path>/tune/trials.json``, tracked by Git.

One study per file (the newest ``mlx tune`` replaces it; Git keeps the older ones, and
``mlx runs`` lists the trials of every committed version). Written atomically after
every round of trials, so an interrupted or killed search keeps what finished.

```jsonc
{
  "format": 1,
  "kind": "mlx-tune-trials",
  "model": "churn",
  "study": {"id": "3f9c0a1b2c4d", "sampler": "TPESampler", "seed": 42,
            "pruner": "MedianPruner" | null, "startup_trials": 5, "warmup_rounds": 10,
            "jobs": 2, "threads_per_trial": 1, "trials_asked": 50, "timeout": null,
            "started_at": "...Z", "finished_at": "...Z", "duration_s": 12.3,
            "interrupted": false},
  "metric": "auc", "direction": "maximize",
  "round_metric": "auc",                  // LightGBM's per-round metric used for pruning
  "evaluated_on": "validation",           // model.validation_size of the training split
  "space": {"num_leaves": {"kind": "int", "low": 8, "high": 255, "log": false}, ...},
  "base_params": {...},                   // model.params the trials started from
  "data": {"path": "data/train.csv", "md5": "...", "rows": 6000,
           "fit_rows": 4320, "valid_rows": 480},
  "code": {"commit": "...", "dirty": false, "branch": "main"},
  "trials": [
    {"number": 0, "params": {"num_leaves": 31, ...}, "value": 0.84,
     "state": "complete" | "pruned" | "failed", "reason": null | "...",
     "rounds": 100, "duration_s": 0.41, "metrics": {...}}
  ],
  "best": {"trial": 7, "params": {...}, "value": 0.86} | null
}
```

``value`` is the metric on the validation rows (pruned trials: the last per-round value
reported, in LightGBM's metric; null for failed ones).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlx.util.atomic import write_text

TRIALS_FILE = "tune/trials.json"
KIND = "mlx-tune-trials"
FORMAT = 1
STATES = ("complete", "pruned", "failed")


def table_path(model_dir: Path) -> Path:
    return model_dir / TRIALS_FILE


def write_table(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(doc, indent=2, sort_keys=False, default=_plain) + "\n")


def parse_table(raw: bytes | None) -> dict[str, Any] | None:
    """A trials table, or None when ``raw`` is not one (absent, damaged, other kind)."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("format") != FORMAT:
        return None
    if not isinstance(doc.get("trials"), list):
        return None
    return doc


def read_table(path: Path) -> dict[str, Any] | None:
    try:
        return parse_table(path.read_bytes())
    except OSError:
        return None


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)

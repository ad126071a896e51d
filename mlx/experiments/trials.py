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
     "rounds": 100, "best_iteration": null, "duration_s": 0.41,
     "metrics": {...}}                    // complete: every metric of the task, validation
     // pruned: "round_value", the last per-round value the pruner saw (LightGBM's
     // round_metric, negated when it runs against the tuned metric's direction)
  ],
  "best": {"trial": 7, "params": {...}, "value": 0.86} | null
}
```

``value`` is the tuned metric on the validation rows, null for pruned and failed
trials. ``duration_s`` and the study's times are the only fields that differ between two
runs of the same study.
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


def trial_rows(
    doc: dict[str, Any],
    task: str,
    seed: int,
    commit: str,
    ref: str | None,
    who: str,
    subject: str,
) -> list[dict[str, Any]]:
    """The ``mlx runs`` rows (``Run`` fields) of one trials table found at ``commit``
    (empty: the work tree) reached from ``ref``. ``params`` are the effective LightGBM
    params the trial trained with (the study's base params, the sampled ones on top)."""
    from mlx.train.fit import effective_params

    study: dict[str, Any] = _mapping(doc.get("study"))
    base: dict[str, Any] = _mapping(doc.get("base_params"))
    metric = str(doc.get("metric") or "")
    best = _mapping(doc.get("best")).get("trial")
    seed = study["seed"] if isinstance(study.get("seed"), int) else seed
    branch = experiment = None
    if ref and ref.startswith("refs/exps/"):
        experiment = ref.rsplit("/", 1)[-1]
    elif ref and ref != "HEAD":
        branch = ref.removeprefix("refs/heads/")
    out = []
    for t in doc["trials"]:
        if not isinstance(t, dict) or not isinstance(t.get("params"), dict):
            continue
        try:
            params, rounds = effective_params({**base, **t["params"]}, task, seed, None)
            params |= {"num_iterations": rounds}
        except (TypeError, ValueError):
            params = {**base, **t["params"]}
        value, number = t.get("value"), t.get("number")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        out.append(
            {
                "run": f"tune#{number}",
                "commit": commit,
                "source": "worktree" if not commit else ("experiment" if experiment else "branch"),
                "branch": branch,
                "when": study.get("started_at"),
                "who": who,
                "subject": subject,
                "experiment": experiment,
                "data_md5": _mapping(doc.get("data")).get("md5"),
                "params": params,
                "metrics": {metric: value} if numeric and metric else {},
                "metrics_from": "tune",
                "kind": "trial",
                "trial": {
                    "study": study.get("id"),
                    "number": number,
                    "state": t.get("state"),
                    "reason": t.get("reason"),
                    "metric": metric,
                    "direction": doc.get("direction"),
                    "value": value,
                    "sampled": t["params"],
                    "best": number == best,
                },
            }
        )
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)

"""The release state the follower and the workers share (docs/serving.md, "Releasing a
new model"): ``<run_dir>/release.json``, written atomically by the follower
(:mod:`mlx.serve.follower`), read by every worker on its 1-second tick.

``{"generation": N, "models": [ModelSpec, ...], "rejected": {name: {...}}, "events": [...]}``
``models`` is aligned with :meth:`ServeSpec.all_models` (same positions, same roles); a
worker switches a position when its version or md5 differs from what it serves. A worker
(re)started after a switch loads the models listed here, not the spec's.

A canary or split version aborted by one worker leaves ``aborted-<hex>`` in the run folder;
the other workers see it on their tick and drop its share to 0 too. The marker names the
version, so a new version of the stage (a --follow switch) starts with its share again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

STATE = "release.json"


def state_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / STATE


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    try:
        data = state_path(run_dir).read_bytes()
    except OSError:
        return None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def write_state(run_dir: str | Path, doc: dict[str, Any]) -> None:
    """Atomic (temp file + rename): a worker never reads half a state."""
    target = state_path(run_dir)
    tmp = target.with_name(f".{STATE}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(doc))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def _marker(run_dir: str | Path, name: str, version: str) -> Path:
    key = (name + "\0" + version).encode().hex()
    return Path(run_dir) / f"aborted-{key}"


def mark_aborted(run_dir: str | Path, name: str, version: str, reason: str) -> None:
    path = _marker(run_dir, name, version)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(reason, encoding="utf-8")
    os.replace(tmp, path)


def aborted_reason(run_dir: str | Path, name: str, version: str) -> str | None:
    try:
        return _marker(run_dir, name, version).read_text(encoding="utf-8")
    except OSError:
        return None

"""``mlx serve --follow``: the process that watches the registry,
``python -m mlx.serve.follower SPEC``.

Started by the supervisor next to the workers (it may import git, DVC and the config
model; the workers never do). Every ``--interval`` seconds (after ``git fetch --tags``
with ``--fetch``) it resolves each stage ref served (``churn#prod``). When one names
another version, the candidate goes through every check before any worker sees it:

1. materialize through the one loader (:func:`mlx.serve.resolve.resolve_model`: DVC cache,
   else DVC fetch from the remote) with its md5 verified against the pointer;
2. derive the serving variant, load it in onnxruntime and score a few rows of its schema,
   checking the outputs (shapes, finite, probabilities in [0, 1] summing to 1);
3. report a schema change (inputs added, removed or retyped) before the switch.

A candidate that passes is written to ``release.json`` (:mod:`mlx.serve.release`); each
worker loads it, warms it up and switches on its own event loop (requests in flight finish
on the old session). A candidate that fails is not switched to: the old version keeps
serving, the reason is logged here and listed in ``release.json`` (the workers show it on
``/v2/models/{name}``, ``/ready`` and the repository index) and ``mlx_release_rejected``
counts it. A rejected version is not retried until the stage names another one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlx.serve.release import read_state, write_state
from mlx.serve.spec import ModelSpec, ServeSpec

MAX_EVENTS = 50


def smoke_test(spec: ModelSpec, rows: int = 5) -> None:
    """Load ``spec`` and score ``rows`` rows of its schema; raise ValueError naming what
    is wrong with the outputs."""
    import numpy as np

    from mlx.serve.model import ServedModel

    model = ServedModel.load(spec, threads=1)
    schema = model.schema
    rng = np.random.default_rng(0)
    num = rng.normal(size=(schema.n_num, rows)).astype(np.float32)
    cats = []
    for f in schema.categorical:
        values = sorted(f.categories) or [""]
        cats.append([values[i % len(values)] for i in range(rows)])
    outputs = model.predict(num, cats)
    if model.task == "regression":
        pred = np.asarray(outputs[0]).reshape(-1)
        if pred.shape[0] != rows or not np.isfinite(pred).all():
            raise ValueError(f"warm-up predictions are not {rows} finite numbers: {pred.tolist()}")
        return
    label, probs = np.asarray(outputs[0]).reshape(-1), np.asarray(outputs[1])
    k = len(model.classes or [])
    if probs.shape != (rows, k) or label.shape[0] != rows:
        raise ValueError(f"warm-up outputs have shapes {label.shape} and {probs.shape}, expected ({rows},) and ({rows}, {k})")  # fmt: skip
    if not np.isfinite(probs).all() or (probs < -1e-6).any() or (probs > 1 + 1e-6).any():
        raise ValueError("warm-up probabilities are not finite numbers in [0, 1]")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"warm-up probabilities do not sum to 1: {probs.sum(axis=1).tolist()}")
    if (label < 0).any() or (label >= k).any():
        raise ValueError(f"warm-up labels {label.tolist()} are not class indexes 0..{k - 1}")


def schema_change(old: ModelSpec, new: ModelSpec) -> str | None:
    """A sentence naming the inputs that differ, or None when the schema is the same."""
    before = {f["name"]: f["kind"] for f in old.features}
    after = {f["name"]: f["kind"] for f in new.features}
    if before == after and old.task == new.task and old.classes == new.classes:
        return None
    parts = []
    if added := sorted(after.keys() - before.keys()):
        parts.append(f"inputs added {added}")
    if removed := sorted(before.keys() - after.keys()):
        parts.append(f"inputs removed {removed}")
    if retyped := sorted(k for k in before.keys() & after.keys() if before[k] != after[k]):
        parts.append(f"inputs retyped {retyped}")
    if old.task != new.task or old.classes != new.classes:
        parts.append(f"outputs {old.task} {old.classes} -> {new.task} {new.classes}")
    return "; ".join(parts)


class Follower:
    def __init__(self, spec: ServeSpec) -> None:
        from mlx.config.loader import load_project

        self.spec = spec
        self.run_dir = Path(spec.run_dir)
        self.project = load_project(spec.release.config)
        state = read_state(self.run_dir) or {}
        self.models = [ModelSpec(**m) for m in state.get("models", [])] or list(spec.all_models())
        self.generation = int(state.get("generation", 0))
        self.rejected: dict[str, dict[str, str]] = state.get("rejected", {})
        self.events: list[dict[str, Any]] = state.get("events", [])
        self._tried: dict[int, tuple[str, str]] = {}  # position -> (commit, version) refused

    def log(self, kind: str, message: str, **fields: Any) -> None:
        event = {"ts": round(time.time(), 3), "event": kind, "message": message, **fields}
        self.events = [*self.events, event][-MAX_EVENTS:]
        print(f"mlx serve --follow: {message}", file=sys.stderr, flush=True)

    def fetch(self) -> None:
        from mlx.adapters.git import Git
        from mlx.errors import MlxError

        remote = self.project.config.registry.git_remote
        try:
            Git.discover(self.project.root).fetch_tags(remote)
        except MlxError as exc:  # an unreachable remote: keep following the local tags
            self.log("fetch_failed", f"cannot fetch tags from {remote}: {exc}")

    def look(self) -> bool:
        """One pass over the followed refs; True when release.json was rewritten."""
        if self.spec.release.fetch:
            self.fetch()
        changed = False
        for i, current in enumerate(self.models):
            if "#" not in current.ref:
                continue
            changed |= self._check(i, current)
        if changed:
            self.generation += 1
            self.write()
        return changed

    def _check(self, i: int, current: ModelSpec) -> bool:
        from mlx.errors import MlxError
        from mlx.registry.refs import resolve

        try:
            resolved = resolve(self.project, current.ref)
        except MlxError as exc:  # demoted, tags unreadable: keep serving, say why once
            return self._refuse(i, current, (str(exc), ""), f"{current.ref} does not resolve: {exc}")  # fmt: skip
        key = (resolved.commit or "", resolved.version or "")
        if key == (current.commit, current.version) or key[1] == current.version:
            if self._tried.pop(i, None) is not None and current.name in self.rejected:
                self.rejected.pop(current.name)  # back on the version that serves
                return True
            return False
        if self._tried.get(i) == key:
            return False  # refused already; wait for the stage to move again
        version = key[1] or key[0][:8]
        try:
            candidate = self._candidate(i, current)
        except (MlxError, ValueError, OSError, RuntimeError) as exc:
            return self._refuse(i, current, key, f"{current.ref} -> {version} rejected, {current.version} keeps serving: {exc}", version)  # fmt: skip
        change = schema_change(current, candidate)
        if change:
            self.log("schema_change", f"{current.ref}: schema change {current.version} -> {candidate.version}: {change}", model=current.name, version=candidate.version)  # fmt: skip
        self.models[i] = candidate
        self._tried.pop(i, None)
        self.rejected.pop(current.name, None)
        self.log("switch", f"{current.ref}: {current.version} -> {candidate.version} (md5 {candidate.md5[:12]}) checked; workers switch", model=current.name, version=candidate.version, previous=current.version)  # fmt: skip
        return True

    def _candidate(self, i: int, current: ModelSpec) -> ModelSpec:
        from mlx.serve.plan import _add_variant
        from mlx.serve.resolve import resolve_model

        candidate = resolve_model(self.project, current.ref)  # materialize + verify md5
        candidate.role = current.role
        if candidate.name != current.name:
            raise ValueError(f"it is model {candidate.name!r}, not {current.name!r}")
        _add_variant(candidate, self.run_dir, f"g{self.generation + 1}-{i}")
        smoke_test(candidate)
        return candidate

    def _refuse(self, i: int, current: ModelSpec, key: tuple[str, str], message: str, version: str = "") -> bool:  # fmt: skip
        if self._tried.get(i) == key:
            return False
        self._tried[i] = key
        from mlx.serve.metrics import ModelStats

        if version:
            ModelStats(self.run_dir, "follower", current.name, version).rejected()
        self.rejected[current.name] = {"version": version or "?", "reason": message, "serving": current.version}  # fmt: skip
        self.log("rejected", message, model=current.name, version=version)
        return True

    def write(self) -> None:
        write_state(
            self.run_dir,
            {
                "generation": self.generation,
                "models": [asdict(m) for m in self.models],
                "rejected": self.rejected,
                "events": self.events,
            },
        )


def main(argv: list[str] | None = None) -> int:
    spec = ServeSpec.read((argv or sys.argv[1:])[0])
    try:
        os.nice(5)  # checks are background work: the workers go first
    except OSError:
        pass
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the supervisor's SIGTERM follows
    follower = Follower(spec)
    parent = os.getppid()
    while not stop and os.getppid() == parent:
        try:
            follower.look()
        except Exception as exc:  # noqa: BLE001 - a bad pass must not end following
            print(f"mlx serve --follow: check failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)  # fmt: skip
        deadline = time.monotonic() + spec.release.interval
        while not stop and time.monotonic() < deadline:
            time.sleep(min(0.1, spec.release.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())

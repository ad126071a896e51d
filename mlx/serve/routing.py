"""Shadow, canary and A/B routing inside one worker (docs/serving.md, "Releasing a new
model"). Imports numpy only.

- :class:`Shadow`: a shadow version scores requests the primary answered, on its own
  thread (onnxruntime releases the GIL), so a response never waits for it. Its queue is
  bounded: when full, new shadow work is dropped and counted (``mlx_shadow_dropped``).
  What it scored goes to its prediction log with the request id the primary logged.
- :class:`Router`: which version answers a request for a model name: the primary, or a
  canary/split arm by share. The assignment is sticky by a hash of the sticky header
  (``X-Request-Key``) or of the first row's id, random otherwise. Each arm's last
  ``abort_window`` answers are kept; an arm whose error rate exceeds the primary's by
  ``abort_error_rate`` or whose p99 exceeds ``abort_p99_ratio`` x the primary's is
  aborted: its share drops to 0 in every worker (a marker file, :mod:`mlx.serve.release`).
"""

from __future__ import annotations

import hashlib
import queue
import random
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from mlx.serve.decode import Rows
from mlx.serve.errors import BadRequest
from mlx.serve.release import aborted_reason, mark_aborted

NOT_ERRORS = (401, 404, 405, 408, 413, 415, 431)  # the client's doing, not the version's


def remap(rows: Rows, src: Any, dst: Any) -> Rows:
    """``rows`` decoded with schema ``src`` as rows of schema ``dst`` (same features by
    name); BadRequest naming the features ``dst`` needs that ``src`` lacks."""
    if src is dst or src.names == dst.names:
        return rows
    num_idx, cat_idx = _mapping(src, dst)
    num = rows.num[num_idx] if num_idx else np.zeros((0, rows.n), dtype=np.float32)
    return Rows(rows.n, num, [rows.cats[k] for k in cat_idx], rows.ids)


def _mapping(src: Any, dst: Any) -> tuple[list[int], list[int]]:
    missing = [f.name for f in dst.features if src.by_name.get(f.name, None) is None or src.by_name[f.name].kind != f.kind]  # fmt: skip
    if missing:
        raise BadRequest(f"this version needs features the request's model does not have: {missing}")  # fmt: skip
    return [src.by_name[f.name].pos for f in dst.numeric], [src.by_name[f.name].pos for f in dst.categorical]  # fmt: skip


class Shadow:
    """One shadow version's queue and thread."""

    def __init__(self, served: Any, sample: float, max_queue: int, max_rows: int) -> None:
        self.served = served
        self.sample = sample
        self.max_rows = max_rows
        self.q: queue.Queue = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="mlx-shadow", daemon=True)
        self._thread.start()

    def offer(self, rows: Rows, schema: Any, request_id: str) -> None:
        """From the event loop, after the primary answered: never blocks."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        try:
            self.q.put_nowait((rows, schema, request_id))
        except queue.Full:
            if self.served.mstats is not None:
                self.served.mstats.add("shadow_dropped")

    def close(self, timeout: float = 30.0) -> None:
        """Score what is queued, then stop (its prediction-log rows are not lost)."""
        self.q.put((None, None, None))
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item[0] is None:
                return
            batch = [item]
            rows = item[0].n
            stop = False
            while rows < self.max_rows:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] is None:
                    stop = True
                    break
                batch.append(nxt)
                rows += nxt[0].n
            self._score(batch)
            if stop:
                return

    def _score(self, batch: list) -> None:
        served = self.served
        model = served.model
        try:
            parts = [remap(r, schema, model.schema) for r, schema, _ in batch]
            if len(parts) == 1:
                num, cats = parts[0].num, parts[0].cats
            else:
                num = np.concatenate([p.num for p in parts], axis=1)
                cats = [[v for p in parts for v in p.cats[k]] for k in range(model.schema.n_cat)]
            outputs = model.predict(num, cats)
        except Exception as exc:  # noqa: BLE001 - a failing shadow never fails the primary
            if served.mstats is not None:
                served.mstats.add("shadow_errors", len(batch))
            print(f"mlx serve: shadow {model.name} {model.version} failed: {exc}", file=sys.stderr)  # fmt: skip
            return
        if served.mstats is not None:
            served.mstats.add("shadow_scored", len(batch))
        if served.spool is not None:
            jobs = [(rid, r.n, True) for r, _, rid in batch]
            served.spool.add(num, cats, outputs, jobs, time.time())


class Arm:
    __slots__ = ("served", "share", "aborted", "window")

    def __init__(self, served: Any, share: float, window: int) -> None:
        self.served = served
        self.share = share
        self.aborted: str | None = None
        self.window: deque = deque(maxlen=window)  # (error, seconds)


class Router:
    """The versions answering one model name's default routes, and their shares."""

    def __init__(self, primary: Any, arms: list[tuple[Any, float]], release: Any, run_dir: str) -> None:  # fmt: skip
        self.release = release
        self.run_dir = run_dir
        self.header = release.sticky_header.lower().encode("latin-1")
        self.primary = Arm(primary, 0.0, release.abort_window)
        self.arms = [Arm(s, share, release.abort_window) for s, share in arms]
        self._seen = 0
        self.sync()

    def sync(self) -> None:
        """Abort what another worker aborted (called on the worker's tick)."""
        for arm in self.arms:
            if arm.aborted is None:
                reason = aborted_reason(self.run_dir, arm.served.name, arm.served.version)
                if reason is not None:
                    arm.aborted = reason

    def key(self, headers: dict, rows: Rows | None) -> str | None:
        given = headers.get(self.header)
        if given:
            return given.decode("latin-1")
        if rows is not None and rows.ids:
            return str(rows.ids[0])
        return None

    def pick(self, key: str | None) -> Any:
        if key is None:
            u = random.random()
        else:
            digest = hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest()
            u = int.from_bytes(digest, "big") / 2**64
        for arm in self.arms:
            if arm.aborted is None:
                if u < arm.share:
                    return arm.served
                u -= arm.share
        return self.primary.served

    def observe(self, served: Any, status: int, seconds: float) -> None:
        error = status >= 400 and status not in NOT_ERRORS
        if served is self.primary.served:
            self.primary.window.append((error, seconds))
            return
        for arm in self.arms:
            if arm.served is served and arm.aborted is None:
                arm.window.append((error, seconds))
                self._seen += 1
                if self._seen % 5 == 0:
                    self._check(arm)
                return

    def _check(self, arm: Arm) -> None:
        rel, base = self.release, self.primary.window
        need = rel.abort_min_requests
        if len(arm.window) < need or len(base) < need:
            return
        err_c = sum(e for e, _ in arm.window) / len(arm.window)
        err_p = sum(e for e, _ in base) / len(base)
        p99_c = float(np.percentile([s for _, s in arm.window], 99))
        p99_p = float(np.percentile([s for _, s in base], 99))
        reason = None
        if err_c > err_p + rel.abort_error_rate:
            reason = f"error rate {err_c:.1%} vs primary {err_p:.1%} (bound +{rel.abort_error_rate:.1%})"  # fmt: skip
        elif p99_c > p99_p * rel.abort_p99_ratio and p99_c > 0.005:
            reason = f"p99 {p99_c * 1000:.1f} ms vs primary {p99_p * 1000:.1f} ms (bound x{rel.abort_p99_ratio:g})"  # fmt: skip
        if reason is None:
            return
        s = arm.served
        arm.aborted = reason
        mark_aborted(self.run_dir, s.name, s.version, reason)
        if s.mstats is not None:
            s.mstats.add("aborted")
        print(f"mlx serve: {s.role} {s.name} {s.version} aborted, share 0: {reason}", file=sys.stderr, flush=True)  # fmt: skip

    def doc(self) -> list[dict[str, Any]]:
        return [
            {
                "version": a.served.version,
                "role": a.served.role,
                "share": 0.0 if a.aborted else a.share,
                "aborted": a.aborted,
            }  # fmt: skip
            for a in self.arms
        ]


def wire(table: Any, release: Any, run_dir: str, max_rows: int) -> tuple[dict, dict, dict]:
    """For the current table: (routers by primary, shadows by primary, router by every
    version it observes). Shadow threads live on their ``Served`` across switches."""
    routers: dict[Any, Router] = {}
    shadows: dict[Any, list[Shadow]] = {}
    arms: dict[Any, list[tuple[Any, float]]] = {}
    for s in table.entries:
        if s.role not in ("shadow", "canary", "split"):
            continue
        primary = table.default_of(s.name) or table.default
        if s.role == "shadow":
            if s.runner is None:
                s.runner = Shadow(s, release.shadow_sample, release.shadow_queue, max_rows)
            shadows.setdefault(primary, []).append(s.runner)
        else:
            arms.setdefault(primary, []).append((s, s.share))
    observers: dict[Any, Router] = {}
    for primary, group in arms.items():
        router = Router(primary, group, release, run_dir)
        routers[primary] = router
        observers[primary] = router
        for s, _ in group:
            observers[s] = router
    return routers, shadows, observers

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
import os
import random
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from mlx.serve.bandit import Recent, Thompson
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
    """One shadow version's pending work and its thread.

    The primary's batcher hands over each scored batch as it is (the decoded, already
    concatenated arrays: no second decode, no copy) with one deque append: no lock, no
    wake-up. The thread polls every ``interval`` seconds and scores what accumulated in
    batches of up to ``max_rows`` rows, so it takes the GIL a few hundred times a second
    instead of once per request. It runs at a lower CPU priority (Linux threads have
    their own nice value): when cores are short, the primary's event loop goes first."""

    interval = 0.005
    nice = 10

    def __init__(self, served: Any, sample: float, max_queue: int, max_rows: int) -> None:
        self.served = served
        self.sample = sample
        self.max_rows = max_rows
        self.max_queue = max_queue  # pending primary batches
        self.pending: deque = deque()
        self._stop = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlx-shadow", daemon=True)
        self._thread.start()

    def offer(self, num: Any, cats: list, jobs: list[tuple[str, int]], schema: Any) -> None:
        """From the primary's batcher, after its answers were sent: never blocks.
        ``jobs`` = (request id, rows) in row order."""
        if self.sample < 1.0:
            num, cats, jobs = _sampled(num, cats, jobs, self.sample)
            if not jobs:
                return
        if len(self.pending) >= self.max_queue:
            if self.served.mstats is not None:
                self.served.mstats.add("shadow_dropped", len(jobs))
            return
        self.pending.append((num, cats, jobs, schema))

    def close(self, timeout: float = 30.0) -> None:
        """Score what is queued, then stop (its prediction-log rows are not lost)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        _lower_priority(self.nice)
        pending = self.pending
        while True:
            self._wake.wait(self.interval)
            stopping = self._stop
            while pending:
                batch: list = []
                rows = 0
                while pending and (not batch or rows + pending[0][0].shape[1] <= self.max_rows):
                    item = pending.popleft()
                    batch.append(item)
                    rows += item[0].shape[1]
                self._score(batch)
            if stopping:
                return

    def _score(self, batch: list) -> None:
        served = self.served
        model = served.model
        jobs = [job for item in batch for job in item[2]]
        try:
            parts = [remap(Rows(num.shape[1], num, cats), schema, model.schema) for num, cats, _, schema in batch]  # fmt: skip
            if len(parts) == 1:
                num, cats = parts[0].num, parts[0].cats
            else:
                num = np.concatenate([p.num for p in parts], axis=1)
                cats = [[v for p in parts for v in p.cats[k]] for k in range(model.schema.n_cat)]
            started = time.perf_counter()
            outputs = model.predict(num, cats)
            ms = (time.perf_counter() - started) * 1000.0
        except Exception as exc:  # noqa: BLE001 - a failing shadow never fails the primary
            if served.mstats is not None:
                served.mstats.add("shadow_errors", len(jobs))
            print(f"mlx serve: shadow {model.name} {model.version} failed: {exc}", file=sys.stderr)  # fmt: skip
            return
        if served.mstats is not None:
            served.mstats.add("shadow_scored", len(jobs))
        if served.spool is not None:
            served.spool.add(num, cats, outputs, [(rid, n, True) for rid, n in jobs], time.time(), ms)  # fmt: skip


def _sampled(num: Any, cats: list, jobs: list[tuple[str, int]], rate: float):
    """The requests of a batch kept by a ``rate`` sample, and their rows."""
    keep = [random.random() < rate for _ in jobs]
    if all(keep):
        return num, cats, jobs
    mask = np.repeat(np.array(keep), [n for _, n in jobs])
    idx = np.flatnonzero(mask)
    return num[:, idx], [[c[i] for i in idx] for c in cats], [j for j, k in zip(jobs, keep, strict=True) if k]  # fmt: skip


def _lower_priority(nice: int) -> None:
    """This thread's nice value up by ``nice`` (Linux: per thread; elsewhere a no-op)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except (AttributeError, OSError):
        pass


class Window:
    """One version's last ``size`` answers: error flags and seconds in ring buffers, the
    error count kept as they are added (no pass over the window per request)."""

    __slots__ = ("err", "sec", "i", "n", "errors")

    def __init__(self, size: int) -> None:
        self.err = bytearray(size)
        self.sec = [0.0] * size
        self.i = 0
        self.n = 0
        self.errors = 0

    def add(self, error: bool, seconds: float) -> None:
        i = self.i
        e = 1 if error else 0
        self.errors += e - self.err[i]
        self.err[i] = e
        self.sec[i] = seconds
        i += 1
        self.i = 0 if i == len(self.sec) else i
        if self.n < len(self.sec):
            self.n += 1

    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0

    def p99(self) -> float:
        return float(np.quantile(self.sec[: self.n] if self.n < len(self.sec) else self.sec, 0.99))


class Arm:
    __slots__ = ("served", "share", "aborted", "window")

    def __init__(self, served: Any, share: float, window: int) -> None:
        self.served = served
        self.share = share
        self.aborted: str | None = None
        self.window = Window(window)


class Router:
    """The versions answering one model name's default routes, and their shares; with
    ``release.policy == "thompson"`` the shares follow the rewards posted back."""

    check_every = 10  # canary answers between two looks at the abort rule

    def __init__(self, primary: Any, arms: list[tuple[Any, float]], release: Any, run_dir: str) -> None:  # fmt: skip
        self.release = release
        self.run_dir = run_dir
        self.header = release.sticky_header.lower().encode("latin-1")
        self.primary = Arm(primary, 0.0, release.abort_window)
        self.arms = [Arm(s, share, release.abort_window) for s, share in arms]
        self.index = {a.served: i for i, a in enumerate([self.primary, *self.arms])}
        self._seen = 0
        self.bandit: Thompson | None = None
        self.recent: Recent | None = None  # request id -> arm, for the bandit's rewards
        if release.policy == "thompson":
            self.bandit = Thompson(len(self.arms) + 1)
            self.recent = Recent(release.feedback_ids, release.feedback_ttl_seconds)
        self.sync()

    def sync(self) -> None:
        """Abort what another worker aborted (called on the worker's tick); forget old
        request ids; the bandit's shares from the rewards since the last tick."""
        for arm in self.arms:
            if arm.aborted is None:
                reason = aborted_reason(self.run_dir, arm.served.name, arm.served.version)
                if reason is not None:
                    arm.aborted = reason
        if self.recent is not None:
            self.recent.expire()
        if self.bandit is not None and self.bandit.fresh:
            self._reshare()

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

    def observe(self, served: Any, status: int, seconds: float, rid: str | None = None) -> None:
        error = status >= 400 and status not in NOT_ERRORS
        if self.recent is not None and rid and status < 300:
            self.recent.add(rid, self.index[served])
        if served is self.primary.served:
            self.primary.window.add(error, seconds)
            return
        for arm in self.arms:
            if arm.served is served and arm.aborted is None:
                arm.window.add(error, seconds)
                self._seen += 1
                if self._seen % self.check_every == 0:
                    self._check(arm)
                return

    def feedback(self, rid: str, reward: float) -> tuple[Any, float] | None:
        """Credit ``reward`` to the version that answered ``rid``: (that version, its
        share now), or None for a request id this worker does not know (or rewarded)."""
        at = self.recent.pop(rid) if self.recent is not None else None
        if at is None:
            return None
        arm = [self.primary, *self.arms][at]
        assert self.bandit is not None  # recent is kept for the bandit only
        self.bandit.reward(at, reward)
        if self.bandit.fresh >= 10:
            self._reshare()
        return arm.served, self.share_of(arm)

    def share_of(self, arm: Arm) -> float:
        if arm is self.primary:
            return max(0.0, 1.0 - sum(a.share for a in self.arms if a.aborted is None))
        return 0.0 if arm.aborted else arm.share

    def _reshare(self) -> None:
        assert self.bandit is not None
        arms = [self.primary, *self.arms]
        shares = self.bandit.shares([a.aborted is None for a in arms])
        for arm, share in zip(self.arms, shares[1:], strict=True):
            arm.share = float(share)

    def _check(self, arm: Arm) -> None:
        rel, base, win = self.release, self.primary.window, arm.window
        need = rel.abort_min_requests
        if win.n < need or base.n < need:
            return
        err_c, err_p = win.error_rate(), base.error_rate()
        reason = None
        if err_c > err_p + rel.abort_error_rate:
            reason = f"error rate {err_c:.1%} vs primary {err_p:.1%} (bound +{rel.abort_error_rate:.1%})"  # fmt: skip
        else:
            p99_c, p99_p = win.p99(), base.p99()
            if p99_c > p99_p * rel.abort_p99_ratio and p99_c > 0.005:
                reason = f"p99 {p99_c * 1000:.1f} ms vs primary {p99_p * 1000:.1f} ms (bound x{rel.abort_p99_ratio:g})"  # fmt: skip
        if reason is None:
            return
        s = arm.served
        arm.aborted = reason
        mark_aborted(self.run_dir, s.name, s.version, reason)
        if s.mstats is not None:
            s.mstats.add("aborted")
        print(f"mlx serve: {s.role} {s.name} {s.version} aborted, share 0: {reason}", file=sys.stderr, flush=True)  # fmt: skip

    def doc(self) -> dict[str, Any]:
        """The policy and each version's share (and rewards): the feedback answer's."""
        arms = [self.primary, *self.arms]
        rewards = self.bandit.doc() if self.bandit is not None else [{} for _ in arms]
        return {
            "policy": self.release.policy,
            "versions": [
                {
                    "version": a.served.version,
                    "role": a.served.role,
                    "share": round(self.share_of(a), 6),
                    "aborted": a.aborted,
                    **r,
                }  # fmt: skip
                for a, r in zip(arms, rewards, strict=True)
            ],
        }


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

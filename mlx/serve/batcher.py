"""Dynamic batching: concurrent requests share one onnxruntime call.

Requests are queued; a drain is scheduled with ``call_soon``, so it runs right after the
event loop has handled every request that arrived in the same I/O round, and takes what
is queued (up to ``max_batch_size`` rows) with no wait. ``max_delay_us`` > 0 instead waits
that long after the first queued request for more to arrive (a full batch goes at
once). The queue is bounded: :meth:`Batcher.submit` refuses when it holds ``max_queue``
requests, and the caller answers 503.

The session runs on the event loop's thread: with one onnxruntime thread per worker
there is no idle core a thread pool could use, and a pool would add a hand-off per
batch. A failing batch is retried request by request, so one bad request cannot fail
the others.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import deque
from typing import Any

import numpy as np

from mlx.serve.decode import Rows
from mlx.serve.model import ServedModel


class Job:
    """One request's rows and how to answer it (``done``/``fail`` never raise)."""

    __slots__ = ("rows", "request_id", "on_done", "on_fail")

    def __init__(self, rows: Rows, request_id: str, on_done, on_fail) -> None:
        self.rows = rows
        self.request_id = request_id
        self.on_done = on_done  # (outputs, start, end) -> None
        self.on_fail = on_fail  # (exception) -> None


class Batcher:
    def __init__(
        self,
        model: ServedModel,
        *,
        max_batch_size: int,
        max_delay_us: int,
        max_queue: int,
        stats: Any = None,
        predlog: Any = None,
        sample_rate: float = 1.0,
    ) -> None:
        self.model = model
        self.max_rows = max_batch_size
        self.max_delay = max_delay_us / 1e6
        self.max_queue = max_queue
        self.stats = stats
        self.predlog = predlog
        self.sample_rate = sample_rate
        self.queue: deque[Job] = deque()
        self.queued_rows = 0
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self.in_flight = 0  # jobs queued or running
        self.shadows: list[Any] = []  # mlx.serve.routing.Shadow: scored batches go there too

    def submit(self, job: Job) -> bool:
        """Queue a job; False when the queue is full (answer 503)."""
        if len(self.queue) >= self.max_queue:
            return False
        self.queue.append(job)
        self.queued_rows += job.rows.n
        self.in_flight += 1
        if self.stats is not None:
            self.stats.set_queue(len(self.queue))
        handle = self._handle
        if handle is None:
            if self.max_delay and self.queued_rows < self.max_rows:
                self._handle = self._loop.call_later(self.max_delay, self._drain)
            else:
                self._handle = self._loop.call_soon(self._drain)
        elif self.queued_rows >= self.max_rows and isinstance(handle, asyncio.TimerHandle):
            handle.cancel()
            self._handle = self._loop.call_soon(self._drain)
        return True

    def _drain(self) -> None:
        self._handle = None
        queue = self.queue
        batch: list[Job] = []
        rows = 0
        while queue and (not batch or rows + queue[0].rows.n <= self.max_rows):
            job = queue.popleft()
            batch.append(job)
            rows += job.rows.n
        self.queued_rows -= rows
        if queue:  # more than one batch was waiting: let I/O in, then continue
            self._handle = self._loop.call_soon(self._drain)
        if self.stats is not None:
            self.stats.set_queue(len(queue))
        try:
            self._run(batch, rows)
        finally:
            self.in_flight -= len(batch)

    def _run(self, batch: list[Job], rows: int) -> None:
        model = self.model
        if len(batch) == 1:
            num, cats = batch[0].rows.num, batch[0].rows.cats
        else:
            num = np.concatenate([j.rows.num for j in batch], axis=1)
            cats = [
                list(itertools.chain.from_iterable(j.rows.cats[k] for j in batch))
                for k in range(model.schema.n_cat)
            ]
        started = time.perf_counter()
        try:
            outputs = model.predict(num, cats)
        except Exception as exc:  # noqa: BLE001 - isolate the request at fault
            if len(batch) == 1:
                batch[0].on_fail(exc)
            else:
                for job in batch:
                    self._run([job], job.rows.n)
            return
        ms = (time.perf_counter() - started) * 1000.0
        if self.stats is not None:
            self.stats.observe_batch(rows)
        start = 0
        for job in batch:
            end = start + job.rows.n
            job.on_done(outputs, start, end)
            start = end
        if self.predlog is not None:
            self._log(batch, num, cats, outputs, ms)
        if self.shadows:  # after the answers: the shadow's queue, never a request's time
            jobs = [(j.request_id, j.rows.n) for j in batch]
            for shadow in self.shadows:
                shadow.offer(num, cats, jobs, model.schema)

    def _log(self, batch: list[Job], num, cats, outputs, ms: float) -> None:
        rate = self.sample_rate
        if rate <= 0:
            return
        keep = [(j.request_id, j.rows.n, rate >= 1 or random.random() < rate) for j in batch]
        if any(k for _, _, k in keep):
            self.predlog.add(num, cats, outputs, keep, time.time(), ms)

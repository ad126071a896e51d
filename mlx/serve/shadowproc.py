"""A shadow version scored in its own process: ``python -m mlx.serve.shadowproc JOB``.

One per worker and shadow version, started by the worker (:class:`ShadowProcess`), so the
shadow's scoring never holds the worker's GIL, and it runs with the idle CPU scheduling
class (``SCHED_IDLE``; else nice 19): when cores are short, the primary goes first and the
shadow gets what is left. Every ``interval`` seconds the worker copies the primary's
scored batches, as one record, into a ring buffer in shared memory (mapped by both):
no pipe, no lock, nothing the worker could wait on while the
idle-class reader is descheduled (a pipe's kernel mutex held by a preempted reader would
stall the worker: priority inversion). When the ring is full (the shadow is behind) new
shadow work is dropped and counted (``mlx_shadow_dropped_total``), never queued without
limit. The ring is an anonymous memfd (tmpfs) passed to the process: no file on disk, so
no write ever waits for dirty-page writeback. The process polls the ring, scores each record in one onnxruntime call and writes
its rows to its own prediction-log spool (:mod:`mlx.serve.predlog`) with the request ids
the primary logged. When the worker marks the ring closed (drain, switch) or is gone,
the process scores what is in the ring, flushes its spool and exits 0; SIGTERM is
ignored (the closed mark is the signal), so a shutdown loses no shadow rows.

Ring: a 64-byte header of uint64 ``[written, read, closed]`` (byte counts since the
start; one writer, one reader, each index stored after the bytes it covers: x86-64's
store order makes that safe), then ``RING_BYTES`` of records. Record:
``<u32 header length><u32 payload length><JSON header><num float32 [n_num, n]>``; the
header holds ``n``, ``jobs`` ([request id, rows] pairs), ``cats`` (one list per
categorical feature of the primary) and ``features`` ([name, kind] of the primary's
schema: the shadow maps them onto its own by name).
"""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mlx.serve.predlog import take_all

RECORD_HEAD = 8
HEAD = 64
RING_BYTES = 4 << 20
WRITTEN, READ, CLOSED = 0, 1, 2


class Ring:
    """The shared ring buffer (one writer, one reader)."""

    def __init__(self, fd: int, create: bool) -> None:
        size = HEAD + RING_BYTES
        if create:
            os.ftruncate(fd, size)
        self.mm = mmap.mmap(fd, size)
        self.idx = np.frombuffer(self.mm, dtype=np.uint64, count=3)
        self.data = memoryview(self.mm)[HEAD:]

    @staticmethod
    def memory(run_dir: Path, name: str) -> int:
        """A file descriptor for the ring's memory: an anonymous memfd (tmpfs: a file on
        disk would make the worker's writes wait for dirty-page writeback), else a file
        in ``/dev/shm`` or the run folder, unlinked at once."""
        try:
            return os.memfd_create(name, 0)  # not inherited unless passed
        except (AttributeError, OSError):
            folder = Path("/dev/shm") if Path("/dev/shm").is_dir() else run_dir
            path = folder / f"{name}-{os.getpid()}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            path.unlink()
            return fd

    def free(self) -> int:
        return RING_BYTES - int(self.idx[WRITTEN] - self.idx[READ])

    def put(self, record: bytes) -> bool:
        """Append ``record``; False (nothing written) when it does not fit."""
        n = len(record)
        if n > self.free():
            return False
        w = int(self.idx[WRITTEN])
        self._copy_in(w % RING_BYTES, record)
        self.idx[WRITTEN] = w + n  # after the bytes: the reader never sees a partial record
        return True

    def _copy_in(self, at: int, data: bytes) -> None:
        first = min(len(data), RING_BYTES - at)
        self.data[at : at + first] = data[:first]
        if first < len(data):
            self.data[: len(data) - first] = data[first:]

    def take(self, n: int, at: int) -> bytes:
        at %= RING_BYTES
        first = min(n, RING_BYTES - at)
        out = bytes(self.data[at : at + first])
        return out + bytes(self.data[: n - first]) if first < n else out

    def records(self):
        """Yield every complete record written so far (and mark it read after use)."""
        r, w = int(self.idx[READ]), int(self.idx[WRITTEN])
        while r < w:
            head = self.take(RECORD_HEAD, r)
            hlen, plen = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
            body = self.take(hlen + plen, r + RECORD_HEAD)
            yield hlen, body
            r += RECORD_HEAD + hlen + plen
            self.idx[READ] = r


class ShadowProcess:
    """The worker's end: same interface as :class:`mlx.serve.routing.Shadow`."""

    interval = 0.005

    def __init__(self, served: Any, sample: float, max_queue: int, job: dict[str, Any]) -> None:
        import asyncio

        self.served = served
        self.sample = sample
        self.max_queue = max_queue  # pending primary batches between two sends
        self.pending: deque = deque()
        self._lock = threading.Lock()
        self._handle: Any = None
        self._closed = False
        self._loop = asyncio.get_running_loop()
        run_dir = Path(job["run_dir"])
        fd = Ring.memory(run_dir, "mlx-shadow-ring")
        try:
            self.ring = Ring(fd, create=True)
            job = {**job, "ring_fd": fd, "interval": self.interval}
            path = run_dir / f"shadow-{os.getpid()}-{id(self):x}.json"
            path.write_bytes(orjson.dumps(job))
            self.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [sys.executable, "-m", "mlx.serve.shadowproc", str(path)],
                stdin=subprocess.DEVNULL,
                pass_fds=(fd,),
            )
        finally:
            os.close(fd)  # the mapping and the child keep the memory

    def offer(self, num: Any, cats: list, jobs: list[tuple[str, int]], schema: Any) -> None:
        """From the primary's batcher, after its answers were sent: never blocks."""
        from mlx.serve.routing import _sampled

        if self._closed:
            return
        if self.sample < 1.0:
            num, cats, jobs = _sampled(num, cats, jobs, self.sample)
            if not jobs:
                return
        if len(self.pending) >= self.max_queue:
            self._dropped(len(jobs))
            return
        self.pending.append((num, cats, jobs, schema))
        if self._handle is None:
            self._handle = self._loop.call_later(self.interval, self._send)

    def _dropped(self, requests: int) -> None:
        if self.served.mstats is not None:
            self.served.mstats.add("shadow_dropped", requests)

    def _send(self) -> None:
        self._handle = None
        if self._lock.acquire(blocking=False):  # else close() is flushing: it takes it all
            try:
                self._flush(block=False)
            finally:
                self._lock.release()

    def _flush(self, block: bool) -> None:
        items = take_all(self.pending)
        if not items:
            return
        data = self._record(items)
        if not data:
            return
        deadline = time.monotonic() + (30.0 if block else 0.0)
        while not self.ring.put(data):
            if time.monotonic() >= deadline or self.proc.poll() is not None:
                self._dropped(sum(len(i[2]) for i in items))
                return
            time.sleep(0.01)  # close(): wait for the shadow to make room

    def _record(self, items: list) -> bytes:
        schema = items[-1][3]
        if any(i[3] is not schema for i in items):  # the primary switched mid-interval
            self._dropped(sum(len(i[2]) for i in items if i[3] is not schema))
            items = [i for i in items if i[3] is schema]
        jobs = [job for item in items for job in item[2]]
        num = items[0][0] if len(items) == 1 else np.concatenate([i[0] for i in items], axis=1)
        cats = [[v for i in items for v in i[1][k]] for k in range(schema.n_cat)]
        header = orjson.dumps({"n": int(num.shape[1]), "jobs": jobs, "cats": cats,
                               "features": _features(schema)})  # fmt: skip
        payload = np.ascontiguousarray(num, dtype="<f4").tobytes()
        return len(header).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + header + payload  # fmt: skip

    def close(self, timeout: float = 30.0) -> None:
        """Send what is pending, mark the ring closed; the process scores it all, exits."""
        with self._lock:
            self._closed = True
            self._flush(block=True)
            self.ring.idx[CLOSED] = 1
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _features(schema: Any) -> list[list[str]]:
    return [[f.name, f.kind] for f in schema.features]


# --- the shadow process ----------------------------------------------------------------


def _idle() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass


def _normal() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def _score(model, mstats, spool, schemas: dict, hlen: int, body: bytes) -> None:
    from mlx.serve.decode import Rows
    from mlx.serve.model import Schema
    from mlx.serve.routing import remap

    header = orjson.loads(body[:hlen])
    n = header["n"]
    key = orjson.dumps(header["features"])
    src = schemas.get(key)
    if src is None:
        src = schemas[key] = Schema([{"name": a, "kind": k} for a, k in header["features"]])
    num = np.frombuffer(body, dtype="<f4", offset=hlen).reshape(-1, n)
    jobs = header["jobs"]
    try:
        rows = remap(Rows(n, num, header["cats"]), src, model.schema)
        started = time.perf_counter()
        outputs = model.predict(rows.num, rows.cats)
        ms = (time.perf_counter() - started) * 1000.0
    except Exception as exc:  # noqa: BLE001 - a failing shadow never fails the primary
        mstats.add("shadow_errors", len(jobs))
        print(f"mlx serve: shadow {model.name} {model.version} failed: {exc}", file=sys.stderr, flush=True)  # fmt: skip
        return
    mstats.add("shadow_scored", len(jobs))
    if spool is not None:
        spool.add(rows.num, rows.cats, outputs, [(rid, k, True) for rid, k in jobs], time.time(), ms)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:])[0])
    job = orjson.loads(path.read_bytes())
    path.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the ring's closed mark is the signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _idle()
    from mlx.serve.metrics import ModelStats
    from mlx.serve.model import ServedModel
    from mlx.serve.predlog import PredictionSpool

    mspec = job["model"]
    model = ServedModel.load(mspec, threads=int(job.get("threads", 1)))
    mstats = ModelStats(job["run_dir"], job["slot"], model.name, model.version)
    plog = job.get("prediction_log")
    spool = None
    if plog:
        spool = PredictionSpool(Path(plog["dir"]), model, flush_seconds=plog["flush_seconds"])
    schemas: dict[bytes, Any] = {}
    ring = Ring(int(job["ring_fd"]), create=False)
    parent = os.getppid()
    interval = float(job.get("interval", 0.005))
    while True:
        closing = bool(ring.idx[CLOSED]) or os.getppid() != parent  # then: drain, exit
        if closing:
            _normal()  # nobody waits on the primary now: finish the backlog promptly
        for hlen, body in ring.records():
            _score(model, mstats, spool, schemas, hlen, body)
        if closing:
            break
        time.sleep(interval)
    if spool is not None:
        spool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

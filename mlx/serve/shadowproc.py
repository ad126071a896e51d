"""A shadow version scored in its own process: ``python -m mlx.serve.shadowproc JOB``.

One per worker and shadow version, started by the worker (:class:`ShadowProcess`), so the
shadow's scoring never holds the worker's GIL, and it runs with the idle CPU scheduling
class (``SCHED_IDLE``; else nice 19): when cores are short, the primary goes first and the
shadow gets what is left. The worker sends the primary's scored batches down a pipe
every ``interval`` seconds, one record for all of them; when the pipe is full (the shadow
is behind) new shadow work is dropped and counted (``mlx_shadow_dropped_total``), never
queued without limit. The process scores each record in one onnxruntime call and writes
its rows to its own prediction-log spool (:mod:`mlx.serve.predlog`) with the request
ids the primary logged. When the worker closes the pipe (drain, switch, or the worker is
gone) it scores what was sent, flushes its spool and exits 0; SIGTERM is ignored (the
pipe's end is the signal), so a shutdown loses no shadow rows.

Record: ``<u32 header length><u32 payload length><JSON header><num float32 [n_num, n]>``;
the header holds ``n``, ``jobs`` ([request id, rows] pairs), ``cats`` (one list per
categorical feature of the primary) and ``features`` ([name, kind] of the primary's
schema: the shadow maps them onto its own by name).
"""

from __future__ import annotations

import fcntl
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

RECORD_HEAD = 8
PIPE_BYTES = 1 << 20


class ShadowProcess:
    """The worker's end: same interface as :class:`mlx.serve.routing.Shadow`."""

    interval = 0.005

    def __init__(self, served: Any, sample: float, max_queue: int, job: dict[str, Any]) -> None:
        import asyncio

        self.served = served
        self.sample = sample
        self.max_queue = max_queue  # pending primary batches between two sends
        self.pending: deque = deque()
        self._rest = b""  # a record the pipe took only part of
        self._lock = threading.Lock()
        self._handle: Any = None
        self._closed = False
        self._loop = asyncio.get_running_loop()
        run_dir = Path(job["run_dir"])
        path = run_dir / f"shadow-{os.getpid()}-{id(self):x}.json"
        path.write_bytes(orjson.dumps(job))
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "mlx.serve.shadowproc", str(path)], stdin=subprocess.PIPE
        )
        assert self.proc.stdin is not None
        self.fd = self.proc.stdin.fileno()
        try:
            fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (AttributeError, OSError):
            pass  # the default 64 KiB pipe: drops come sooner
        os.set_blocking(self.fd, False)

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
        with self._lock:
            self._flush(block=False)

    def _flush(self, block: bool) -> None:
        items = []
        while self.pending:
            items.append(self.pending.popleft())
        if self._rest:  # the end of the last record first: records never interleave
            self._write(self._rest, block)
            if self._rest:
                self._dropped(sum(len(i[2]) for i in items))
                return
        data = self._record(items) if items else b""
        if data and not self._write(data, block):
            self._dropped(sum(len(i[2]) for i in items))

    def _write(self, data: bytes, block: bool) -> bool:
        """Write ``data``; what the pipe did not take waits in ``_rest``. False when none
        of it went in (the pipe is full, or the process is gone)."""
        if block:
            os.set_blocking(self.fd, True)
        try:
            n = os.write(self.fd, data)
        except OSError:  # BlockingIOError: full; BrokenPipeError: gone
            return False
        self._rest = data[n:]
        while block and self._rest:
            try:
                n = os.write(self.fd, self._rest)
            except OSError:
                self._rest = b""
                return True
            self._rest = self._rest[n:]
        return True

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
        """Send what is pending, close the pipe; the process scores it all and exits."""
        with self._lock:
            self._closed = True
            self._flush(block=True)
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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


def _read(stream, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            return b""
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:])[0])
    job = orjson.loads(path.read_bytes())
    path.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the end of the pipe is the signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _idle()
    from mlx.serve.decode import Rows
    from mlx.serve.metrics import ModelStats
    from mlx.serve.model import Schema, ServedModel
    from mlx.serve.predlog import PredictionSpool
    from mlx.serve.routing import remap

    mspec = job["model"]
    model = ServedModel.load(mspec, threads=int(job.get("threads", 1)))
    mstats = ModelStats(job["run_dir"], job["slot"], model.name, model.version)
    plog = job.get("prediction_log")
    spool = None
    if plog:
        spool = PredictionSpool(Path(plog["dir"]), model, flush_seconds=plog["flush_seconds"])
    schemas: dict[bytes, Any] = {}
    stdin = sys.stdin.buffer
    while True:
        head = _read(stdin, RECORD_HEAD)
        if not head:
            break
        hlen, plen = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
        body = _read(stdin, hlen + plen)
        if not body:
            break
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
            outputs = model.predict(rows.num, rows.cats)
        except Exception as exc:  # noqa: BLE001 - a failing shadow never fails the primary
            mstats.add("shadow_errors", len(jobs))
            print(f"mlx serve: shadow {model.name} {model.version} failed: {exc}", file=sys.stderr, flush=True)  # fmt: skip
            continue
        mstats.add("shadow_scored", len(jobs))
        if spool is not None:
            spool.add(rows.num, rows.cats, outputs, [(rid, k, True) for rid, k in jobs], time.time())  # fmt: skip
    if spool is not None:
        spool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

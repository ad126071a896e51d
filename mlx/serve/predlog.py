"""Prediction logs, worker side: scored batches → spool files, off the request path.

The request path appends references to arrays it already has (one deque append per
batch). A thread in the worker wakes every ``flush_seconds``, encodes what was queued
(JSON header + raw little-endian arrays, no pyarrow) and writes it to a spool file in
``<dir>/<model>/.spool/``; the log writer process (:mod:`mlx.serve.logwriter`) turns spool
files into the Parquet files ``mlx monitor`` reads. Workers thus stay free of pyarrow
(~60 MiB each), and spooled rows survive a worker or writer crash.

When the spool thread falls behind by more than ``max_pending_rows``, new rows are dropped
and counted (``mlx_prediction_log_dropped_total``), never queued without limit.

Spool record: ``<u32 header length><u32 payload length><JSON header><payload>``; the
header holds ``n``, ``ts``, ``ids`` ([request id, rows] pairs), ``cats`` (one list per
categorical feature); the payload is ``num`` float32 [n_num, n], then ``label`` int64 [n]
(classification), then ``score`` float32 [n].
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mlx.serve.model import ServedModel

SPOOL = ".spool"
RECORD = struct.Struct("<II")


def spool_dir(log_dir: Path | str, model_name: str) -> Path:
    return Path(log_dir) / model_name / SPOOL


class PredictionSpool:
    def __init__(
        self,
        directory: Path,
        model: ServedModel,
        *,
        flush_seconds: float = 5.0,
        max_pending_rows: int = 1_000_000,
        stats: Any = None,
    ) -> None:
        self.dir = spool_dir(directory, model.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending_rows
        self.stats = stats
        self.pending: deque = deque()
        self.added_rows = 0  # written by the event loop only
        self.spooled_rows = 0  # written by the spool thread only
        self._seq = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="mlx-prediction-log", daemon=True)
        self._thread.start()

    # --- request path -----------------------------------------------------------------

    def add(self, num, cats, outputs, jobs: list[tuple[str, int, bool]], ts: float) -> None:
        """Queue one scored batch; ``jobs`` = (request id, rows, sampled?) in row order."""
        rows = _kept(jobs)
        if self.added_rows - self.spooled_rows + rows > self.max_pending:
            if self.stats is not None:
                self.stats.add("predlog_dropped", rows)
            return
        self.pending.append((num, cats, outputs, jobs, ts))
        self.added_rows += rows

    # --- spool thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            stopping = self._stop
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001 - logging must never take the server down
                if self.stats is not None:
                    self.stats.add("predlog_errors")
                print(f"mlx serve: prediction log spool failed: {exc}", file=sys.stderr)
            if stopping:
                return

    def close(self, timeout: float = 30.0) -> None:
        """Spool everything queued, then stop the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    def _flush(self) -> None:
        items = []
        while self.pending:
            items.append(self.pending.popleft())
        if not items:
            return
        self.spooled_rows += sum(_kept(i[3]) for i in items)
        data = b"".join(self._record(*item) for item in items)
        self._seq += 1
        name = f"{int(time.time() * 1000)}-{os.getpid()}-{self._seq}"
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.dir / f"{name}.spool")

    def _record(self, num, cats, outputs, jobs, ts) -> bytes:
        model = self.model
        keep = None
        if not all(k for _, _, k in jobs):
            mask = np.concatenate([np.full(n, k, dtype=bool) for _, n, k in jobs])
            keep = np.flatnonzero(mask)
        score = model.score(outputs)
        label = outputs[0] if model.task != "regression" else None
        if keep is not None:
            num, score = num[:, keep], score[keep]
            label = label[keep] if label is not None else None
            cats = [[c[i] for i in keep] for c in cats]
        header = orjson.dumps(
            {
                "n": int(score.shape[0]),
                "ts": ts,
                "ids": [[rid, n] for rid, n, k in jobs if k],
                "cats": [c if type(c) is list else list(c) for c in cats],
            }
        )
        parts = [np.ascontiguousarray(num, dtype="<f4").tobytes()]
        if label is not None:
            parts.append(np.ascontiguousarray(label, dtype="<i8").tobytes())
        parts.append(np.ascontiguousarray(score, dtype="<f4").tobytes())
        payload = b"".join(parts)
        return RECORD.pack(len(header), len(payload)) + header + payload


def _kept(jobs) -> int:
    return sum(n for _, n, k in jobs if k)


def read_spool(data: bytes, n_num: int, classification: bool):
    """Decode a spool file: yields (header, num [n_num, n], label [n] | None, score [n])."""
    pos = 0
    while pos < len(data):
        hlen, plen = RECORD.unpack_from(data, pos)
        pos += RECORD.size
        header = orjson.loads(data[pos : pos + hlen])
        pos += hlen
        payload = memoryview(data)[pos : pos + plen]
        pos += plen
        n = header["n"]
        num = np.frombuffer(payload, dtype="<f4", count=n_num * n).reshape(n_num, n)
        offset = n_num * n * 4
        label = None
        if classification:
            label = np.frombuffer(payload, dtype="<i8", count=n, offset=offset)
            offset += n * 8
        score = np.frombuffer(payload, dtype="<f4", count=n, offset=offset)
        yield header, num, label, score

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
header holds ``n``, ``ts`` ([unix seconds, rows] runs), ``ms`` ([milliseconds, rows] runs:
the model run that scored those rows), ``ids`` ([request id, rows]
pairs), ``cats`` (one list per categorical feature); the payload is ``num`` float32 [n_num, n], then ``label`` int64 [n]
(classification), then ``score`` float32 [n].
"""

from __future__ import annotations

import itertools
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
_SPOOLS = itertools.count(1)  # several spools (one per model version) share a folder
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
        # small, frequent spool writes keep both memory and each GIL hold short
        self.interval = min(flush_seconds, 1.0)
        self.max_pending = max_pending_rows
        self.stats = stats
        self.pending: deque = deque()
        self.added_rows = 0  # written by the event loop only
        self.spooled_rows = 0  # written by the spool thread only
        self._seq = 0
        self._id = next(_SPOOLS)
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="mlx-prediction-log", daemon=True)
        self._thread.start()

    # --- request path -----------------------------------------------------------------

    def add(
        self,
        num,
        cats,
        outputs,
        jobs: list[tuple[str, int, bool]],
        ts: float,
        ms: float | None = None,
    ) -> None:
        """Queue one scored batch; ``jobs`` = (request id, rows, sampled?) in row order,
        ``ms`` the model run that scored it (milliseconds; the ``_score_ms`` column)."""
        rows = _kept(jobs)
        if self.added_rows - self.spooled_rows + rows > self.max_pending:
            if self.stats is not None:
                self.stats.add("predlog_dropped", rows)
            return
        self.pending.append((num, cats, outputs, jobs, ts, ms))
        self.added_rows += rows

    # --- spool thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
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
        items = take_all(self.pending)
        if not items:
            return
        data = self._record(items)
        self.spooled_rows += sum(_kept(i[3]) for i in items)
        if not data:
            return
        self._seq += 1
        name = f"{int(time.time() * 1000)}-{os.getpid()}-{self._id}-{self._seq}"
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.dir / f"{name}.spool")

    def _record(self, items: list) -> bytes:
        """All queued batches as one record: a few numpy concatenations and list
        comprehensions, so the thread holds the GIL briefly however many batches."""
        model = self.model
        jobs = [job for item in items for job in item[3]]
        num = np.concatenate([item[0] for item in items], axis=1)
        outputs = [np.concatenate([item[2][k] for item in items]) for k in range(len(items[0][2]))]
        cats = [[v for item in items for v in item[1][k]] for k in range(model.schema.n_cat)]
        stamps = [[item[4], sum(n for _, n, _ in item[3])] for item in items]
        took = [[item[5], n] for item, (_, n) in zip(items, stamps, strict=True)]
        if not all(k for _, _, k in jobs):
            mask = np.repeat(np.array([k for _, _, k in jobs]), [n for _, n, _ in jobs])
            keep = np.flatnonzero(mask)
            num = num[:, keep]
            outputs = [o[keep] for o in outputs]
            cats = [[c[i] for i in keep] for c in cats]
            ts_rows = np.repeat([t for t, _ in stamps], [n for _, n in stamps])[keep]
            stamps = [[float(t), 1] for t in ts_rows]  # sampled: one stamp per kept row
            ms_rows = np.repeat([m if m is not None else np.nan for m, _ in took], [n for _, n in took])[keep]  # fmt: skip
            took = [[None if np.isnan(m) else round(float(m), 3), 1] for m in ms_rows]
        score = model.score(outputs)
        if score.shape[0] == 0:
            return b""
        header = orjson.dumps(
            {
                "n": int(score.shape[0]),
                "ts": stamps,  # [[unix seconds, rows], ...] in row order
                "ms": [[None if m is None else round(m, 3), n] for m, n in took],
                "ids": [[rid, n] for rid, n, k in jobs if k],
                "cats": cats,
                "version": model.version,
                "commit": model.commit,
            }
        )
        parts = [np.ascontiguousarray(num, dtype="<f4").tobytes()]
        if model.task != "regression":
            parts.append(np.ascontiguousarray(outputs[0], dtype="<i8").tobytes())
        parts.append(np.ascontiguousarray(score, dtype="<f4").tobytes())
        payload = b"".join(parts)
        return RECORD.pack(len(header), len(payload)) + header + payload


def take_all(pending: deque) -> list:
    """Everything queued so far, oldest first. ``popleft`` until empty rather than
    ``list()`` + ``clear()``: the event loop may append meanwhile, and nothing is lost."""
    items = []
    while pending:
        items.append(pending.popleft())
    return items


def _kept(jobs) -> int:
    return sum(n for _, n, k in jobs if k)


def split_spool(data: bytes) -> list[tuple[dict, bytes]]:
    """A spool file's records, undecoded: (header, the record's bytes)."""
    out, pos = [], 0
    while pos < len(data):
        hlen, plen = RECORD.unpack_from(data, pos)
        end = pos + RECORD.size + hlen + plen
        out.append(
            (orjson.loads(data[pos + RECORD.size : pos + RECORD.size + hlen]), data[pos:end])
        )
        pos = end
    return out


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

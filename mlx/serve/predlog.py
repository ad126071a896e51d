"""Prediction logs: what was served, as Parquet that ``mlx monitor`` reads.

The request path only appends references to arrays it already has (one deque append
per batch); a background thread turns them into Arrow tables and writes them. Files
are ``<dir>/<model>/<YYYY-MM-DD>/part-<unix ms>-<pid>-<seq>.parquet`` with the columns
fixed in docs/internals.md ("Prediction logs"). A file is written under a hidden
``.inprogress`` name and renamed when complete (after ``max_rows_per_file`` rows,
``max_file_seconds``, a new day, or shutdown), so readers never see a partial file.
When the writer falls behind by more than ``max_pending_rows``, new rows are dropped
and counted (``mlx_prediction_log_dropped_total``), never queued without limit.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mlx.serve.model import ServedModel


class PredictionLogger:
    def __init__(
        self,
        directory: Path,
        model: ServedModel,
        *,
        max_rows_per_file: int = 100_000,
        flush_seconds: float = 5.0,
        max_file_seconds: float = 300.0,
        max_pending_rows: int = 1_000_000,
        stats: Any = None,
    ) -> None:
        self.root = Path(directory) / model.name
        self.model = model
        self.max_rows = max_rows_per_file
        self.flush_seconds = flush_seconds
        self.max_file_seconds = max_file_seconds
        self.max_pending = max_pending_rows
        self.stats = stats
        self.pending: deque = deque()
        self.pending_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._writer = None
        self._file: Path | None = None
        self._file_rows = 0
        self._file_opened = 0.0
        self._file_day = ""
        self._seq = 0
        self._schema = None
        self._thread = threading.Thread(target=self._run, name="mlx-prediction-log", daemon=True)
        self._thread.start()

    # --- request path -----------------------------------------------------------------

    def add(self, num, cats, outputs, jobs: list[tuple[str, int, bool]], ts: float) -> None:
        """Queue one scored batch; ``jobs`` = (request id, rows, sampled?) in row order."""
        rows = sum(n for _, n, keep in jobs if keep)
        if self.pending_rows + rows > self.max_pending:
            if self.stats is not None:
                self.stats.add("predlog_dropped", rows)
            return
        with self._lock:
            self.pending.append((num, cats, outputs, jobs, ts))
            self.pending_rows += rows
        if self.pending_rows >= self.max_rows:
            self._wake.set()

    # --- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            stopping = self._stop
            try:
                self._flush()
                if stopping or (
                    self._writer is not None
                    and time.time() - self._file_opened >= self.max_file_seconds
                ):
                    self._close_file()
            except Exception as exc:  # noqa: BLE001 - logging must never take the server down
                if self.stats is not None:
                    self.stats.add("predlog_errors")
                print(f"mlx serve: prediction log write failed: {exc}", file=sys.stderr)
                self._writer = None
            if stopping:
                return

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, complete the open file, stop the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    def _flush(self) -> None:
        with self._lock:
            items = list(self.pending)
            self.pending.clear()
            self.pending_rows = 0
        if not items:
            return
        table = self._table(items)
        if table is None or table.num_rows == 0:
            return
        start = 0
        while start < table.num_rows:
            self._ensure_file()
            take = min(self.max_rows - self._file_rows, table.num_rows - start)
            self._writer.write_table(table.slice(start, take))
            self._file_rows += take
            start += take
            if self.stats is not None:
                self.stats.add("predlog_rows", take)
            if self._file_rows >= self.max_rows:
                self._close_file()

    def _table(self, items: list):
        import pyarrow as pa

        model = self.model
        schema = model.schema
        nums, cat_cols, labels, scores, rids, stamps = (
            [],
            [[] for _ in schema.categorical],
            [],
            [],
            [],
            [],
        )
        for num, cats, outputs, jobs, ts in items:
            keep = np.concatenate([np.full(n, k, dtype=bool) for _, n, k in jobs])
            idx = None if keep.all() else np.flatnonzero(keep)
            pick = (lambda a: a) if idx is None else (lambda a, idx=idx: a[..., idx])
            nums.append(pick(num))
            for k, col in enumerate(cats):
                cat_cols[k].extend(col if idx is None else [col[i] for i in idx])
            if model.task != "regression":
                labels.append(pick(outputs[0]))
            scores.append(pick(model.score(outputs)))
            for rid, n, k in jobs:
                if k:
                    rids.extend([rid] * n)
            stamps.append(np.full(len(scores[-1]), int(ts * 1e6), dtype=np.int64))
        num_all = np.concatenate(nums, axis=1)
        n = num_all.shape[1]
        columns: dict[str, Any] = {}
        for f in schema.features:
            if f.kind == "categorical":
                columns[f.name] = pa.array(cat_cols[f.pos], type=pa.string())
            else:
                columns[f.name] = pa.array(num_all[f.pos], type=pa.float32())
        columns["_request_id"] = pa.array(rids, type=pa.string())
        columns["_ts"] = pa.array(np.concatenate(stamps), type=pa.timestamp("us", tz="UTC"))
        for key, value in (("_model", model.name), ("_version", model.version), ("_commit", model.commit)):  # fmt: skip
            columns[key] = pa.array([value] * n, type=pa.string())
        if model.task != "regression":
            columns["_label"] = pa.array(np.concatenate(labels), type=pa.int64())
        columns["_score"] = pa.array(np.concatenate(scores).astype(np.float32), type=pa.float32())
        return pa.table(columns, schema=self._arrow_schema())

    def _ensure_file(self) -> None:
        import pyarrow.parquet as pq

        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        if self._writer is not None and day != self._file_day:
            self._close_file()
        if self._writer is not None:
            return
        folder = self.root / day
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"part-{int(time.time() * 1000)}-{os.getpid()}-{self._seq}.parquet"
        self._file = folder / name
        self._file_day = day
        self._file_rows = 0
        self._file_opened = time.time()
        self._writer = pq.ParquetWriter(
            str(self._inprogress(self._file)), self._arrow_schema(), compression="zstd"
        )

    def _arrow_schema(self):
        import pyarrow as pa

        if self._schema is None:
            fields = [
                pa.field(f.name, pa.string() if f.kind == "categorical" else pa.float32())
                for f in self.model.schema.features
            ]
            fields += [
                pa.field("_request_id", pa.string()),
                pa.field("_ts", pa.timestamp("us", tz="UTC")),
                pa.field("_model", pa.string()),
                pa.field("_version", pa.string()),
                pa.field("_commit", pa.string()),
            ]
            if self.model.task != "regression":
                fields.append(pa.field("_label", pa.int64()))
            fields.append(pa.field("_score", pa.float32()))
            self._schema = pa.schema(fields)
        return self._schema

    @staticmethod
    def _inprogress(path: Path) -> Path:
        return path.with_name("." + path.name + ".inprogress")

    def _close_file(self) -> None:
        if self._writer is None or self._file is None:
            return
        self._writer.close()
        self._writer = None
        os.replace(self._inprogress(self._file), self._file)
        if self.stats is not None:
            self.stats.add("predlog_files")

"""Structured access logs: one JSON object per request, written off the event loop.

The loop appends a pre-encoded line to a deque; a thread writes batches to the stream
(stderr by default) every ``interval`` seconds. A stream that blocks (a full pipe
nobody reads) stalls only that thread; past ``max_pending`` lines, new lines are
dropped and counted in the next line written, instead of growing memory or stalling
requests.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any

import orjson


def request_entry(req: Any, status: int, nbytes: int, seconds: float) -> dict[str, Any]:
    """The access-log line of one answered request (``req``: an ``mlx.serve.http.Request``
    after the app has set its route, rows, request id and the version that served it)."""
    entry = {
        "ts": round(time.time(), 6),
        "client": req.conn.peer,
        "method": req.method.decode("latin-1"),
        "path": req.path,
        "status": status,
        "ms": round(seconds * 1000, 3),
        "rows": req.rows,
        "request_id": req.rid,
        "bytes": nbytes,
    }
    served = req.served
    if served is not None:
        entry["model"], entry["version"] = served.name, served.version
    entry["pid"] = os.getpid()
    return entry


class AccessLog:
    def __init__(self, fd: int = 2, interval: float = 0.5, max_pending: int = 100_000) -> None:
        self.fd = fd
        self.interval = interval
        self.max_pending = max_pending
        self.lines: deque[bytes] = deque()
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlx-access-log", daemon=True)
        self._thread.start()

    def log(self, entry: dict) -> None:
        if len(self.lines) >= self.max_pending:
            self.dropped += 1
            return
        self.lines.append(orjson.dumps(entry) + b"\n")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._write()
        self._write()

    def _write(self) -> None:
        lines = self.lines
        if not lines and not self.dropped:
            return
        chunk = []
        while lines:
            chunk.append(lines.popleft())
        if self.dropped:
            chunk.append(
                orjson.dumps({"event": "access_log_dropped", "lines": self.dropped}) + b"\n"
            )
            self.dropped = 0
        data = b"".join(chunk)
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except OSError:
            pass  # the log stream is gone; serving goes on

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

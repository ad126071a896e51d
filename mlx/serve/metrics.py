"""Prometheus metrics shared across worker processes without locks or IPC.

Each worker owns one small file in the run folder, mapped into memory as a float64
array, and updates it in place (a numpy element add, ~0.1 µs; one writer per file, so
no lock). Whichever worker answers ``GET /metrics`` sums every worker's file and
renders the text format with ``prometheus_client``, so a scrape sees the whole server
whatever worker the kernel hands it to. A restarted worker reopens its slot's file and
keeps counting, so counters never go backwards; gauges are reset on start.
"""

from __future__ import annotations

import bisect
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

ROUTES = ("infer", "invocations", "predict", "metadata", "health", "metrics", "other")
CODES = (200, 400, 401, 404, 405, 408, 413, 415, 431, 500, 503)  # anything else → "other"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
SCORING_ROUTES = ("infer", "invocations", "predict")

_R, _C = len(ROUTES), len(CODES) + 1
_LB, _BB = len(LATENCY_BUCKETS) + 1, len(BATCH_BUCKETS) + 1


def _layout() -> dict[str, tuple[int, int]]:
    sizes = {
        "requests": _R * _C,
        "latency": _R * _LB,
        "latency_sum": _R,
        "batch": _BB,
        "batch_sum": 1,
        "rows": 1,
        "queue": 1,
        "connections": 1,
        "predlog_rows": 1,
        "predlog_dropped": 1,
        "predlog_files": 1,
        "predlog_errors": 1,
    }
    out, offset = {}, 0
    for name, size in sizes.items():
        out[name] = (offset, size)
        offset += size
    return out


LAYOUT = _layout()
SLOTS = sum(size for _, size in LAYOUT.values())
ROUTE_INDEX = {r: i for i, r in enumerate(ROUTES)}
CODE_INDEX = {c: i for i, c in enumerate(CODES)}


def _file(run_dir: Path | str, slot: int | str) -> Path:
    return Path(run_dir) / f"metrics-{slot}.bin"


class WorkerStats:
    """This worker's counters, in its shared-memory file."""

    def __init__(self, run_dir: Path | str, slot: int | str) -> None:
        path = _file(run_dir, slot)
        size = SLOTS * 8
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, 0)
                os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.a = np.frombuffer(self._mm, dtype=np.float64)
        for gauge in ("queue", "connections"):
            self.a[LAYOUT[gauge][0]] = 0.0
        self._req = LAYOUT["requests"][0]
        self._lat = LAYOUT["latency"][0]
        self._lat_sum = LAYOUT["latency_sum"][0]
        self._batch = LAYOUT["batch"][0]
        self._batch_sum = LAYOUT["batch_sum"][0]
        self._rows = LAYOUT["rows"][0]
        self._queue = LAYOUT["queue"][0]
        self._conns = LAYOUT["connections"][0]

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        a = self.a
        r = ROUTE_INDEX.get(route, _R - 1)
        a[self._req + r * _C + CODE_INDEX.get(status, _C - 1)] += 1
        if route in SCORING_ROUTES:
            a[self._lat + r * _LB + bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            a[self._lat_sum + r] += seconds

    def observe_batch(self, rows: int) -> None:
        a = self.a
        a[self._batch + bisect.bisect_left(BATCH_BUCKETS, rows)] += 1
        a[self._batch_sum] += rows
        a[self._rows] += rows

    def set_queue(self, depth: int) -> None:
        self.a[self._queue] = depth

    def set_connections(self, n: int) -> None:
        self.a[self._conns] = n

    def add(self, name: str, value: float = 1.0) -> None:
        self.a[LAYOUT[name][0]] += value


def read_all(run_dir: Path) -> tuple[np.ndarray, int]:
    """Every worker's counters summed, and how many workers wrote them."""
    total = np.zeros(SLOTS)
    n = 0
    for path in sorted(Path(run_dir).glob("metrics-*.bin")):
        data = np.fromfile(path, dtype=np.float64)
        if data.size == SLOTS:
            total += data
            n += path.stem.removeprefix("metrics-").isdigit()  # the log writer is no worker
    return total, n


def _part(a: np.ndarray, name: str) -> np.ndarray:
    offset, size = LAYOUT[name]
    return a[offset : offset + size]


class _Collector:
    def __init__(self, run_dir: Path, model: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.model = model

    def collect(self):
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            InfoMetricFamily,
        )

        a, workers = read_all(self.run_dir)
        yield InfoMetricFamily("mlx_model", "The model being served.", value=self.model)
        yield GaugeMetricFamily("mlx_workers", "Worker processes reporting.", value=workers)
        requests = CounterMetricFamily(
            "mlx_requests",
            "HTTP requests answered, by route and status code.",
            labels=["route", "code"],
        )
        errors = CounterMetricFamily(
            "mlx_errors", "HTTP requests answered with an error (4xx/5xx), by route and code.",
            labels=["route", "code"],
        )  # fmt: skip
        counts = _part(a, "requests").reshape(_R, _C)
        codes = [str(c) for c in CODES] + ["other"]
        for r, route in enumerate(ROUTES):
            for c, code in enumerate(codes):
                if counts[r, c]:
                    requests.add_metric([route, code], counts[r, c])
                    if code == "other" or int(code) >= 400:
                        errors.add_metric([route, code], counts[r, c])
        yield requests
        yield errors
        latency = HistogramMetricFamily(
            "mlx_request_duration_seconds",
            "Time from the first byte of a scoring request to its answer.",
            labels=["route"],
        )
        lat = _part(a, "latency").reshape(_R, _LB)
        sums = _part(a, "latency_sum")
        for route in SCORING_ROUTES:
            r = ROUTE_INDEX[route]
            latency.add_metric([route], _buckets(lat[r], LATENCY_BUCKETS), sums[r])
        yield latency
        batch = HistogramMetricFamily("mlx_batch_size", "Rows per onnxruntime call.")
        batch.add_metric([], _buckets(_part(a, "batch"), BATCH_BUCKETS), _part(a, "batch_sum")[0])
        yield batch
        yield CounterMetricFamily("mlx_rows", "Rows scored.", value=_part(a, "rows")[0])
        yield GaugeMetricFamily(
            "mlx_queue_depth", "Requests waiting for a batch.", value=_part(a, "queue")[0]
        )
        yield GaugeMetricFamily(
            "mlx_open_connections", "Open client connections.", value=_part(a, "connections")[0]
        )
        for key, doc in (
            ("predlog_rows", "Rows written to prediction logs."),
            ("predlog_dropped", "Rows not logged because the log writer fell behind."),
            ("predlog_files", "Prediction log files completed."),
            ("predlog_errors", "Prediction log write failures."),
        ):
            name = "mlx_prediction_log_" + key.removeprefix("predlog_")
            yield CounterMetricFamily(name, doc, value=_part(a, key)[0])
        yield from _model_families(self.run_dir)


def _buckets(counts: np.ndarray, bounds) -> list[tuple[str, float]]:
    cumulative = np.cumsum(counts)
    labels = [repr(float(b)) for b in bounds] + ["+Inf"]
    return list(zip(labels, cumulative.tolist(), strict=True))


def render(run_dir: Path, model: dict[str, Any]) -> tuple[bytes, bytes]:
    """(body, content type) of the text exposition of every worker's metrics."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(Path(run_dir), {k: str(v) for k, v in model.items()}))
    return generate_latest(registry), CONTENT_TYPE_LATEST.encode()


# --- per model and version ------------------------------------------------------------

_MODEL_LAYOUT = {"requests": _C, "latency": _LB, "latency_sum": 1, "rejected": 1,
                 "switched": 1, "shadow_scored": 1, "shadow_dropped": 1, "shadow_errors": 1,
                 "aborted": 1}  # fmt: skip
_MODEL_SLOTS = sum(_MODEL_LAYOUT.values())
_MODEL_AT = {k: sum(list(_MODEL_LAYOUT.values())[:i]) for i, k in enumerate(_MODEL_LAYOUT)}
RELEASE_COUNTERS = {
    "rejected": ("mlx_release_rejected", "Versions not switched to (failed a --follow check)."),
    "switched": ("mlx_release_switched", "Switches to this version by --follow (per worker)."),
    "shadow_scored": ("mlx_shadow_scored", "Requests scored by this shadow version."),
    "shadow_dropped": ("mlx_shadow_dropped", "Shadow work dropped because its queue was full."),
    "shadow_errors": ("mlx_shadow_errors", "Shadow scoring failures (never seen by clients)."),
    "aborted": ("mlx_canary_aborted", "Automatic aborts of this canary/split version."),
}


class ModelStats:
    """One worker's counters for one served model version (``mstats-<slot>-<hex>.bin``,
    the hex naming ``name`` and ``version``), summed across workers by :func:`render`."""

    def __init__(self, run_dir: Path | str, slot: int | str, name: str, version: str) -> None:
        key = f"{name}\0{version}".encode().hex()
        path = Path(run_dir) / f"mstats-{slot}-{key}.bin"
        size = _MODEL_SLOTS * 8
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.a = np.frombuffer(self._mm, dtype=np.float64)

    def observe(self, status: int, seconds: float) -> None:
        a = self.a
        a[CODE_INDEX.get(status, _C - 1)] += 1
        a[_C + bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        a[_C + _LB] += seconds

    def rejected(self) -> None:
        self.a[_MODEL_AT["rejected"]] += 1

    def add(self, key: str, value: float = 1.0) -> None:
        """One of RELEASE_COUNTERS (switched, shadow_scored, shadow_dropped, ...)."""
        self.a[_MODEL_AT[key]] += value


def _model_stats(run_dir: Path) -> dict[tuple[str, str], np.ndarray]:
    out: dict[tuple[str, str], np.ndarray] = {}
    for path in Path(run_dir).glob("mstats-*.bin"):
        try:
            name, version = bytes.fromhex(path.stem.rsplit("-", 1)[1]).decode().split("\0")
        except (ValueError, IndexError):
            continue
        data = np.fromfile(path, dtype=np.float64)
        if data.size == _MODEL_SLOTS:
            out[(name, version)] = out.get((name, version), 0) + data
    return out


def _model_families(run_dir: Path):
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    requests = CounterMetricFamily(
        "mlx_model_requests", "Scoring requests answered, by model, version and status code.",
        labels=["model", "version", "code"],
    )  # fmt: skip
    latency = HistogramMetricFamily(
        "mlx_model_request_duration_seconds", "Scoring request latency by model and version.",
        labels=["model", "version"],
    )  # fmt: skip
    extra = {k: CounterMetricFamily(n, doc, labels=["model", "version"])
             for k, (n, doc) in RELEASE_COUNTERS.items()}  # fmt: skip
    codes = [str(c) for c in CODES] + ["other"]
    for (name, version), a in sorted(_model_stats(run_dir).items()):
        for c, code in enumerate(codes):
            if a[c]:
                requests.add_metric([name, version, code], a[c])
        if a[:_C].any():
            latency.add_metric([name, version], _buckets(a[_C : _C + _LB], LATENCY_BUCKETS), a[_C + _LB])  # fmt: skip
        for key, family in extra.items():
            if a[_MODEL_AT[key]]:
                family.add_metric([name, version], a[_MODEL_AT[key]])
    return (requests, latency, *extra.values())

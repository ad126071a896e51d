"""The prediction-log writer process: ``python -m mlx.serve.logwriter SPEC``.

Started by the supervisor when prediction logs are on. It turns the workers' spool files
(:mod:`mlx.serve.predlog`) into Parquet files
``<dir>/<model>/<YYYY-MM-DD>/part-<unix ms>-<pid>-<seq>.parquet`` with the columns fixed in
docs/internals.md ("Prediction logs"). A file is written under a hidden ``.inprogress``
name and renamed when complete (``max_rows_per_file`` rows, ``max_file_seconds``, a new
day, or shutdown), so readers never see a partial file. Spool files are claimed by
renaming, so two writers never log the same rows, and files left by a crash are picked
up by the next writer. SIGTERM: write what is spooled, complete the file, exit 0.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlx.serve.model import Schema
from mlx.serve.predlog import read_spool, split_spool, spool_dir
from mlx.serve.spec import ModelSpec, ServeSpec

_FILES = itertools.count(1)


class ParquetLog:
    def __init__(
        self,
        log_dir: Path,
        model: ModelSpec,
        *,
        max_rows_per_file: int,
        max_file_seconds: float,
        stats=None,
    ) -> None:
        self.root = Path(log_dir) / model.name
        self.model = model
        self.schema = Schema(model.features)
        self.classification = model.task != "regression"
        self.max_rows = max_rows_per_file
        self.max_seconds = max_file_seconds
        self.stats = stats
        self._writer = None
        self._file: Path | None = None
        self._rows = 0
        self._opened = 0.0
        self._day = ""
        self._seq = 0
        self._arrow_schema = self._make_schema()

    def _make_schema(self):
        import pyarrow as pa

        fields = [
            pa.field(f.name, pa.string() if f.kind == "categorical" else pa.float32())
            for f in self.schema.features
        ]
        fields += [
            pa.field("_request_id", pa.string()),
            pa.field("_ts", pa.timestamp("us", tz="UTC")),
            pa.field("_model", pa.string()),
            pa.field("_version", pa.string()),
            pa.field("_commit", pa.string()),
        ]
        if self.classification:
            fields.append(pa.field("_label", pa.int64()))
        fields.append(pa.field("_score", pa.float32()))
        fields.append(pa.field("_score_ms", pa.float32()))
        return pa.schema(fields)

    def table(self, data: bytes):
        """One spool file's rows as an Arrow table in the log schema."""
        import pyarrow as pa

        nums, labels, scores, rids, stamps, versions, commits = [], [], [], [], [], [], []
        took: list[np.ndarray] = []
        cats: list[list] = [[] for _ in self.schema.categorical]
        for header, num, label, score in read_spool(data, self.schema.n_num, self.classification):
            nums.append(num)
            scores.append(score)
            if label is not None:
                labels.append(label)
            for k, col in enumerate(header["cats"]):
                cats[k].extend(col)
            for rid, n in header["ids"]:
                rids.extend([rid] * n)
            versions.extend([header.get("version") or self.model.version] * header["n"])
            tagged = bool(header.get("version"))  # spools name their version; old ones do not
            commits.extend(
                [header.get("commit", "") if tagged else self.model.commit] * header["n"]
            )
            took.append(_runs(header.get("ms"), header["n"]))  # older spools have none
            runs = header["ts"]
            stamps.append(
                np.repeat(np.array([t for t, _ in runs]) * 1e6, [n for _, n in runs]).astype(
                    np.int64
                )
            )
        if not scores:
            return None
        num = np.concatenate(nums, axis=1)
        n = num.shape[1]
        cols = []
        for f in self.schema.features:
            if f.kind == "categorical":
                cols.append(pa.array(cats[f.pos], type=pa.string()))
            else:
                cols.append(pa.array(num[f.pos], type=pa.float32()))
        cols.append(pa.array(rids, type=pa.string()))
        cols.append(pa.array(np.concatenate(stamps), type=pa.timestamp("us", tz="UTC")))
        cols.append(pa.array([self.model.name] * n, type=pa.string()))
        cols.append(pa.array(versions, type=pa.string()))
        cols.append(pa.array(commits, type=pa.string()))
        if self.classification:
            cols.append(pa.array(np.concatenate(labels), type=pa.int64()))
        cols.append(pa.array(np.concatenate(scores), type=pa.float32()))
        ms = np.concatenate(took)
        cols.append(pa.array(ms, type=pa.float32(), mask=np.isnan(ms)))
        return pa.Table.from_arrays(cols, schema=self._arrow_schema)

    def write(self, table) -> None:
        start = 0
        while start < table.num_rows:
            self._open()
            assert self._writer is not None  # _open made one
            take = min(self.max_rows - self._rows, table.num_rows - start)
            self._writer.write_table(table.slice(start, take))
            self._rows += take
            start += take
            if self.stats is not None:
                self.stats.add("predlog_rows", take)
            if self._rows >= self.max_rows:
                self.close_file()

    def tick(self) -> None:
        if self._writer is not None and (
            time.time() - self._opened >= self.max_seconds or _today() != self._day
        ):
            self.close_file()

    def _open(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is not None and _today() != self._day:
            self.close_file()
        if self._writer is not None:
            return
        self._day = _today()
        folder = self.root / self._day
        folder.mkdir(parents=True, exist_ok=True)
        self._seq = next(_FILES)  # one sequence for every log of this process: unique names
        self._file = folder / f"part-{int(time.time() * 1000)}-{os.getpid()}-{self._seq}.parquet"
        self._rows, self._opened = 0, time.time()
        self._writer = pq.ParquetWriter(
            str(_inprogress(self._file)), self._arrow_schema, compression="zstd"
        )

    def close_file(self) -> None:
        if self._writer is None or self._file is None:
            return
        self._writer.close()
        self._writer = None
        os.replace(_inprogress(self._file), self._file)
        if self.stats is not None:
            self.stats.add("predlog_files")


def _runs(runs: list | None, n: int) -> np.ndarray:
    """``[[value | null, rows], ...]`` as ``n`` float32 values (NaN for null or absent)."""
    if not runs:
        return np.full(n, np.nan, dtype=np.float32)
    values = np.array([np.nan if v is None else v for v, _ in runs], dtype=np.float32)
    return np.repeat(values, [k for _, k in runs])


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _inprogress(path: Path) -> Path:
    return path.with_name("." + path.name + ".inprogress")


def drain_spool(spool: Path, log: ParquetLog, route=None) -> int:
    """Claim, convert and delete every complete spool file; returns rows written.
    ``route(header)`` may name another log for a record (a --follow switch to a version
    with other features: its rows go to a Parquet file of its own schema)."""
    rows = 0
    for path in sorted(spool.glob("*.spool")):
        claimed = path.with_name(f".{path.name}.{os.getpid()}.claimed")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another writer took it
        try:
            data = claimed.read_bytes()
            groups: dict[int, tuple[ParquetLog, list[bytes]]] = {}
            for header, record in split_spool(data) if route is not None else [({}, data)]:
                target = (route(header) if route is not None else None) or log
                groups.setdefault(id(target), (target, []))[1].append(record)
            for target, records in groups.values():
                table = target.table(b"".join(records))
                if table is not None:
                    target.write(table)
                    rows += table.num_rows
        except Exception as exc:  # noqa: BLE001 - keep the file for a human, go on
            if log.stats is not None:
                log.stats.add("predlog_errors")
            print(f"mlx serve: cannot log {path.name}: {exc}", file=sys.stderr, flush=True)
            os.replace(claimed, claimed.with_name(path.name + ".bad"))
            continue
        claimed.unlink()
    return rows


class Router:
    """Which log a spool record goes to: its version's schema (from the spec and, after
    --follow switches, release.json), when that differs from the name's first log."""

    def __init__(self, spec: ServeSpec, make) -> None:
        self.spec = spec
        self.make = make  # ModelSpec -> ParquetLog
        self.versions: dict[tuple[str, str], ModelSpec] = {}
        self.extra: dict[tuple[str, str], ParquetLog] = {}
        self._mtime = 0
        for m in spec.all_models():
            self.versions[(m.name, m.version)] = m

    def refresh(self) -> None:
        from mlx.serve.release import read_state, state_path

        try:
            mtime = os.stat(state_path(self.spec.run_dir)).st_mtime_ns
        except OSError:
            return
        if mtime != self._mtime:
            self._mtime = mtime
            for doc in (read_state(self.spec.run_dir) or {}).get("models", []):
                m = ModelSpec(**doc)
                self.versions[(m.name, m.version)] = m

    def for_log(self, log: ParquetLog):
        def route(header: dict):
            m = self.versions.get((log.model.name, header.get("version") or ""))
            if m is None or _signature(m) == _signature(log.model):
                return None
            key = (m.name, repr(_signature(m)))
            if key not in self.extra:
                self.extra[key] = self.make(m)
            return self.extra[key]

        return route

    def tick(self) -> None:
        for log in self.extra.values():
            log.tick()

    def close(self) -> None:
        for log in self.extra.values():
            log.close_file()


def _signature(m: ModelSpec) -> tuple:
    return (m.task, tuple(m.classes or ()), tuple((f["name"], f["kind"]) for f in m.features))


def main(argv: list[str] | None = None) -> int:
    from mlx.serve.metrics import WorkerStats

    spec = ServeSpec.read((argv or sys.argv[1:])[0])
    plog = spec.prediction_log
    try:
        os.nice(10)  # background work: when cores are short, the workers go first
    except OSError:
        pass
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: wait for the supervisor's SIGTERM
    stats = WorkerStats(spec.run_dir, "logger")

    def make(model: ModelSpec) -> ParquetLog:
        return ParquetLog(
            Path(plog.dir),
            model,
            max_rows_per_file=plog.max_rows_per_file,
            max_file_seconds=plog.max_file_seconds,
            stats=stats,
        )

    router = Router(spec, make)
    logs = {}  # one Parquet log per model name; rows carry the version that answered
    for model in spec.all_models():
        if model.name not in logs:
            log = make(model)
            spool = spool_dir(plog.dir, model.name)
            spool.mkdir(parents=True, exist_ok=True)
            logs[model.name] = (spool, log)
    poll = min(max(plog.flush_seconds / 2, 0.05), 1.0)
    parent = os.getppid()
    routes = {name: router.for_log(log) for name, (_, log) in logs.items()}
    while not stop and os.getppid() == parent:  # also stop when the supervisor is gone
        router.refresh()
        for name, (spool, log) in logs.items():
            drain_spool(spool, log, routes[name])
            log.tick()
        router.tick()
        time.sleep(poll)
    router.refresh()
    for name, (spool, log) in logs.items():
        drain_spool(spool, log, routes[name])
        log.close_file()
    router.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

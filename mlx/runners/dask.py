"""The dask runner: the train stage here, the boosting on a Dask cluster.

``run_train_stage`` runs in this process as for a local train (validation, split,
feature domains, ONNX export, parity, metrics, profile: this machine reads the file
once for those), with :class:`~mlx.runners.dask_train.DaskBoosterFactory` doing the
fit: the workers read the file in partitions and ``lightgbm.dask`` trains across them.
What differs from a local train is documented in docs/runners.md (determinism across
worker counts, memory, shared paths).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.sections import DaskRunner as DaskSpec
from mlx.errors import DataNotAvailable, EnvironmentProblem, RemoteUnreachable, UsageError
from mlx.metadata import ModelMetadata, write_metadata
from mlx.runners import RUNS, BaseRunner, Progress, ScoreJob, TrainJob, require_extra

if TYPE_CHECKING:
    from mlx.runners.dask_score import ClusterBatchResult

CHECKED = ("mlx-mlops", "lightgbm", "pandas", "numpy", "dask", "distributed")


@contextlib.contextmanager
def connect(spec: DaskSpec, name: str) -> Iterator[Any]:
    """A client of the runner's scheduler; unreachable → :class:`RemoteUnreachable`."""
    from distributed import Client

    for logger in ("distributed", "distributed.client", "lightgbm"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    try:
        client = Client(  # type: ignore[no-untyped-call]  # distributed: no type hints
            spec.scheduler, timeout=spec.timeout, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise RemoteUnreachable(
            f"cannot reach the Dask scheduler {spec.scheduler} (runner {name!r}): {exc}",
            hint="check the address, that the scheduler runs, and the network",
        ) from None
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


def worker_versions(client: Any) -> dict[str, dict[str, str | None]]:
    """package → version per worker (None when it is not installed there)."""

    def versions() -> dict[str, str | None]:
        from importlib.metadata import PackageNotFoundError, version

        out: dict[str, str | None] = {}
        for dist in CHECKED:
            try:
                out[dist] = version(dist)
            except PackageNotFoundError:
                out[dist] = None
        return out

    found: dict[str, dict[str, str | None]] = client.run(versions)  # worker address → versions
    return found


def check_cluster(client: Any, data_path: Path | None = None) -> dict[str, Any]:
    """Workers present, with this machine's package versions, and able to read the data."""
    from importlib.metadata import version

    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise EnvironmentProblem("the Dask cluster has no workers", hint="start some workers")
    problems = []
    for address, found in worker_versions(client).items():
        for dist, theirs in found.items():
            ours = version(dist)
            if theirs != ours:
                problems.append(f"{address}: {dist} {theirs or 'missing'} (here {ours})")
    if problems:
        raise EnvironmentProblem(
            "the Dask workers' packages differ from this machine's:\n  " + "\n  ".join(problems),
            hint="install the same mlx-mlops[dask] environment on every worker",
        )
    if data_path is not None:
        size = data_path.stat().st_size

        def stat(path: str) -> int:
            import os

            return os.path.getsize(path) if os.path.exists(path) else -1

        seen = client.run(stat, str(data_path))
        bad = {w: s for w, s in seen.items() if s != size}
        if bad:
            raise DataNotAvailable(
                f"{len(bad)} Dask worker(s) cannot read {data_path} as this machine has it",
                hint="the dask runner needs the data at the same path on every worker "
                "(a shared filesystem)",
                details={"workers": bad},
            )
    return {
        "workers": len(workers),
        "threads": sum(w.get("nthreads", 0) for w in workers.values()),
    }


class DaskRunner(BaseRunner):
    """Trains (the boosting) and scores files on the cluster; validate, evaluate and
    tune run here (they read one file once, or fit many small models)."""

    kind = "dask"
    runs = RUNS["dask"]

    def __init__(self, name: str, spec: DaskSpec) -> None:
        super().__init__(name)
        self.spec = spec

    def score(self, job: ScoreJob) -> ClusterBatchResult:
        require_extra("dask", f"the dask runner {self.name!r}", "distributed", "dask.dataframe")
        from mlx.runners.dask_score import score_file_on_cluster

        return score_file_on_cluster(
            self.spec,
            self.name,
            job.model,
            job.input_path,
            job.output_path,
            on_error=job.on_error,
            allow_non_finite=job.allow_non_finite,
            progress=job.progress,
        )

    def train(self, job: TrainJob, progress: Progress | None = None) -> ModelMetadata:
        require_extra("dask", f"the dask runner {self.name!r}", "distributed", "lightgbm.dask")
        import platform
        import socket

        from mlx.runners.dask_train import DaskBoosterFactory
        from mlx.train.stage import run_train_stage

        cfg = job.project.config
        if cfg.model.early_stopping_rounds:
            raise UsageError(
                "the dask runner cannot early-stop (lightgbm.dask does not support it)",
                hint="remove model.early_stopping_rounds or train with another runner",
            )
        started = time.perf_counter()
        with connect(self.spec, self.name) as client:
            cluster = check_cluster(client, job.data_path)
            partitions = self.spec.partitions or 2 * cluster["workers"]
            factory = DaskBoosterFactory(
                client, job.data_path, cfg.data.target, cfg.model.task, partitions
            )
            runner = {
                "name": self.name,
                "kind": self.kind,
                "scheduler": self.spec.scheduler,
                "host": socket.gethostname(),  # where the stage (not the boosting) ran
                "python": platform.python_version(),
                **cluster,
            }

            def boost(*args: Any) -> Any:
                if progress is not None:
                    progress(0, args[-1])
                booster = factory(*args)
                if progress is not None:
                    progress(args[-1], args[-1])
                return booster

            job.say(f"training on {cluster['workers']} Dask workers at {self.spec.scheduler}")
            meta = run_train_stage(
                cfg,
                job.data_path,
                job.out_dir,
                test_path=job.test_path,
                schema_text=job.schema_text,
                context=job.context | {"runner": runner},
                booster_factory=boost,
            )
        meta.runner = (
            meta.runner
            | (factory.used or {})
            | {"duration_s": round(time.perf_counter() - started, 3)}
        )
        write_metadata(job.out_dir, meta)
        return meta

"""The dask runner: the boosting of a train, the partitions of a batch score and the
trials of a tune on a Dask cluster (the cluster itself: :mod:`mlx.runners.dask_cluster`).

``run_train_stage`` runs in this process as for a local train (validation, split,
feature domains, ONNX export, parity, metrics, profile: this machine reads the file
once for those), with :class:`~mlx.runners.dask_train.DaskBoosterFactory` doing the
fit: the workers read the file in partitions and ``lightgbm.dask`` trains across them.
What differs from a local train is documented in docs/runners.md (determinism across
worker counts, memory, shared paths).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlx.config.runners import DaskRunner as DaskSpec
from mlx.errors import UsageError
from mlx.metadata import ModelMetadata, write_metadata
from mlx.runners import (
    RUNS,
    BaseRunner,
    Progress,
    ScoreJob,
    TrainJob,
    TrialPool,
    TuneJob,
    require_extra,
)
from mlx.runners.dask_cluster import check_cluster, connect

if TYPE_CHECKING:
    from mlx.runners.dask_score import ClusterBatchResult


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

    @contextlib.contextmanager
    def trial_pool(self, job: TuneJob) -> Iterator[TrialPool]:
        """The study's trials as tasks on the cluster, one LightGBM thread each; the
        prepared rows are sent to every worker once (no shared filesystem needed)."""
        require_extra("dask", f"the dask runner {self.name!r}", "distributed")
        with connect(self.spec, self.name) as client:
            cluster = check_cluster(client)
            if job.log is not None:
                job.log(
                    f"tuning on {cluster['workers']} Dask workers ({cluster['threads']} "
                    f"threads) at {self.spec.scheduler}"
                )
            data = client.scatter(job.data, broadcast=True)
            runner = {"name": self.name, "kind": self.kind, "scheduler": self.spec.scheduler}
            yield TrialPool(
                client.get_executor(pure=False),
                max(1, cluster["threads"]),
                data,
                runner | cluster,
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

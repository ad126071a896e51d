"""``mlx serve --batch``: score a file with a verified model, here or on a runner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlx.config.model import ProjectConfig
from mlx.errors import UsageError

if TYPE_CHECKING:
    from mlx.runners import Progress
    from mlx.scoring.files import BatchResult


def score_batch(
    project: ProjectConfig | None,
    ref: str | None,
    input_path: Path,
    output_path: Path,
    *,
    on_error: str | None = None,
    chunk_rows: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    runner: str | None = None,
) -> BatchResult:
    """Score ``input_path`` into ``output_path``; returns the scorer's result
    (:class:`mlx.scoring.files.BatchResult`, or the dask runner's).

    ``runner``: a runner that scores files itself (dask) does; one that runs scoring here
    (local) leaves it to this process; one that cannot (ssh) is a usage error."""
    from mlx.config.sections import ServeConfig
    from mlx.scoring.files import score_file
    from mlx.serve.model import ServedModel
    from mlx.serve.resolve import resolve_model

    cfg = project.config.serve if project is not None else ServeConfig()
    spec = resolve_model(project, ref)
    on_error = on_error or cfg.batch.on_error
    if runner is not None:
        from mlx.runners import ScoreJob, get_runner

        if project is None:
            raise UsageError("--runner needs a project (its mlops.yaml names the runners)")
        chosen = get_runner(project, runner)
        if chosen.placement("score") == "there":
            job = ScoreJob(
                project,
                spec,
                input_path,
                output_path,
                on_error=on_error,
                allow_non_finite=cfg.allow_non_finite,
                progress=progress,
            )
            return chosen.score(job)
    from mlx.util.rowchunks import workers_default

    # row chunks on a thread pool of one-thread runs: scales better than onnxruntime's
    # own intra-op threads on tree models (docs/benchmarks.md, "LightGBM → ONNX export")
    workers = (cfg.batch.threads if threads is None else threads) or workers_default()
    model = ServedModel.load(spec, threads=1)
    return score_file(
        model,
        input_path,
        output_path,
        chunk_rows=chunk_rows or cfg.batch.chunk_rows,
        on_error=on_error,
        allow_non_finite=cfg.allow_non_finite,
        progress=progress,
        workers=workers,
    )

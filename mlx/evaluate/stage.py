"""``python -m mlx.evaluate.stage JOB.json``: the eval stage from a job file.

Remote runners run this in a bundle on the host (see :mod:`mlx.util.jobfile`). It calls
:func:`mlx.evaluate.pipeline.run_eval_stage`, the function a local ``mlx eval`` runs, and
lists every file it wrote with its md5 plus the metrics document in the manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from mlx.util.jobfile import run_job

    return run_job(argv, _job)


def _job(job: dict[str, Any], progress: Any) -> dict[str, Any]:  # noqa: ARG001
    from mlx.config.model import MlxConfig, ProjectConfig
    from mlx.evaluate.pipeline import run_eval_stage
    from mlx.util.jobfile import file_md5s

    project = ProjectConfig(MlxConfig.model_validate(job["config"]), Path.cwd() / "mlops.yaml")
    out = Path(job["out_dir"])
    doc, plots = run_eval_stage(
        project, Path(job["model_dir"]), out, job.get("baseline"), head=job.get("head")
    )
    return {"doc": doc, "plots": plots, "files": file_md5s(out)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

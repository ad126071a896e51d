"""Running a stage from a JSON job file (``python -m mlx.train.stage JOB.json``).

Remote runners write the job, run the module on the host and read back two files the
job names: ``manifest`` (what the stage produced, with md5s; written on success) and
``error_file`` (the :class:`~mlx.errors.MlxError` as JSON, so the client can re-raise
it with the same exit code). ``--progress`` turns on ``mlx-progress DONE TOTAL`` lines
on stderr, which the runner turns back into a progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROGRESS_PREFIX = "mlx-progress "
Progress = Callable[[int, int], None]


def run_job(argv: list[str], body: Callable[[dict[str, Any], Progress | None], dict]) -> int:
    """Load the job, call ``body(job, progress)``, write its manifest or the error."""
    from mlx.errors import MlxError

    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    progress = _printer() if "--progress" in argv[1:] else None
    try:
        manifest = body(job, progress)
    except MlxError as exc:
        if job.get("error_file"):
            Path(job["error_file"]).write_text(json.dumps(exc.to_dict(), default=str))
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    if job.get("manifest"):
        Path(job["manifest"]).write_text(json.dumps(manifest, default=str), encoding="utf-8")
    return 0


def _printer() -> Progress:
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] >= 0.2:
            last[0] = now
            print(f"{PROGRESS_PREFIX}{done} {total}", file=sys.stderr, flush=True)

    return show

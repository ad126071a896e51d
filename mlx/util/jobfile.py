"""Running a stage from a JSON job file (``python -m mlx.train.stage JOB.json``).

Remote runners build a typed job (a :class:`JobSpec` subclass that lives beside the
stage it drives: ``TrainJobSpec`` in :mod:`mlx.train.stage`, ``EvalJobSpec`` in
:mod:`mlx.evaluate.stage`), write it as JSON, run the module on the host and read back
two files the job names: ``manifest`` (what the stage produced, with md5s; written on
success) and ``error_file`` (the :class:`~mlx.errors.MlxError` as JSON, so the client
can re-raise it with the same exit code). ``--progress`` turns on ``mlx-progress DONE
TOTAL`` lines on stderr, which the runner turns back into a progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

PROGRESS_PREFIX = "mlx-progress "
Progress = Callable[[int, int], None]


class JobSpec(BaseModel):
    """What both ends of a remote stage agree on; unknown fields are refused, so a host
    whose mlx differs from the client's says so instead of guessing."""

    model_config = ConfigDict(extra="forbid")

    error_file: str | None = None
    manifest: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls: type[J], text: str) -> J:
        from mlx.errors import UsageError

        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise UsageError(
                f"job file: {where}: {first['msg']}",
                hint="the host's mlx-mlops differs from the client's; install the same version",
            ) from None


J = TypeVar("J", bound=JobSpec)


def run_job(
    argv: list[str], spec_type: type[J], body: Callable[[J, Progress | None], dict[str, Any]]
) -> int:
    """Load the job as ``spec_type``, call ``body(job, progress)``, write its manifest or
    the error."""
    from mlx.errors import MlxError

    text = Path(argv[0]).read_text(encoding="utf-8")
    progress = _printer() if "--progress" in argv[1:] else None
    error_file = _error_file(text)
    try:
        job = spec_type.from_json(text)
        manifest = body(job, progress)
    except MlxError as exc:
        if error_file:
            Path(error_file).write_text(json.dumps(exc.to_dict(), default=str))
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    if job.manifest:
        Path(job.manifest).write_text(json.dumps(manifest, default=str), encoding="utf-8")
    return 0


def _error_file(text: str) -> str | None:
    """Where to report, read before the job is validated (so a bad job is reported too)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    value = doc.get("error_file") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _printer() -> Progress:
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] >= 0.2:
            last[0] = now
            print(f"{PROGRESS_PREFIX}{done} {total}", file=sys.stderr, flush=True)

    return show

"""``mlx validate``: the data against the config's rules, here or on a runner's host.

The config itself was checked by loading it (:mod:`mlx.config`); this checks a data
file (:mod:`mlx.data.validate`, pandera), optionally writing an inferred schema first.
A runner that runs validate itself (ssh) checks the committed data on its host; one
that runs it here (dask) says so in the result's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.config.model import ProjectConfig
from mlx.data.report import DataChecked

if TYPE_CHECKING:
    from mlx.data.report import ValidationReport


@dataclass
class ValidateResult(DataChecked):
    config_path: str
    model: str
    task: str
    data: ValidationReport | None = None  # when data was checked
    schema_written: str | None = None
    notes: list[str] = field(default_factory=list)
    runner: dict[str, Any] | None = None  # where the data check ran, when not here

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": {
                "path": self.config_path,
                "valid": True,
                "model": self.model,
                "task": self.task,
            },
            "data": self.data_dict(),
            "schema_written": self.schema_written,
            "notes": self.notes,
            **({"runner": self.runner} if self.runner else {}),
        }


def run_validation(
    project: ProjectConfig,
    *,
    config_only: bool = False,
    infer: bool = False,
    data: Path | None = None,
    runner: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ValidateResult:
    """The config is already valid (``project``); check the data (``data``, default
    ``data.train``) here or on ``runner``'s host, inferring a schema first if asked."""
    cfg = project.config
    result = ValidateResult(str(project.path), cfg.model.name, cfg.model.task)
    if config_only:
        return result
    from mlx.data import validate as validation

    target = project.resolve(data) if data is not None else project.resolve(cfg.data.train)
    if runner is not None and _remote_validate(project, runner, target, infer, result, log):
        return result
    if infer:
        result.schema_written, note = _infer_schema(project, target)
        if note:
            result.notes.append(note)
            project = _with_schema(project, result.schema_written)
    result.data = validation.validate_file(project, target)
    return result


def _remote_validate(
    project: ProjectConfig,
    runner: str,
    target: Path,
    infer: bool,
    result: ValidateResult,
    log: Callable[[str], None] | None,
) -> bool:
    """Validate on the runner's host when the runner runs validate itself; returns whether
    it did (else the note that it ran here is added)."""
    from mlx.errors import UsageError
    from mlx.runners import ValidateJob, get_runner

    chosen = get_runner(project, runner)
    if chosen.placement("validate") == "here":
        note = chosen.here_note("validate")
        if note:
            result.notes.append(note)
        return False
    if infer:
        raise UsageError("--infer writes a schema into this work tree; run it without --runner")
    from mlx.data.report import Failure, ValidationReport

    remote = chosen.validate(ValidateJob(project, target, log))
    report = dict(remote.report)
    failures = [Failure(**f) for f in report.pop("failures")]
    report.pop("ok", None)
    result.data = ValidationReport(**report, failures=failures)
    result.runner = remote.runner
    return True


def _infer_schema(project: ProjectConfig, data_path: Path) -> tuple[str, str | None]:
    from mlx.data import schema as schema_mod
    from mlx.data.validate import read_training_frame
    from mlx.util.atomic import write_text

    cfg = project.config
    frame = read_training_frame(project, data_path)
    specs = schema_mod.infer_specs(frame, cfg.data)
    ref = cfg.data.schema_file or str(Path(cfg.data.train).parent / "schema.yaml")
    write_text(project.resolve(ref), schema_mod.schema_yaml(specs, cfg.data, cfg.model.task))
    note = None
    if cfg.data.schema_file is None:
        note = f"wrote {ref}; add `schema: {ref}` under `data:` in {project.path.name} to use it"
    return ref, note


def _with_schema(project: ProjectConfig, ref: str) -> ProjectConfig:
    data = project.config.data.model_copy(update={"schema_file": ref})
    return ProjectConfig(project.config.model_copy(update={"data": data}), project.path)

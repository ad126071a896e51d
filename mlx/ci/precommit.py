"""What the pre-commit hook checks: the staged ``mlops.yaml``, then the data if it changed.

The config is read from the index (what is about to be committed), not the work tree,
so a fix left unstaged does not let a broken config through. Parsing it imports nothing
heavy. Data validation (pandas, pandera) runs only when the commit touches the training
or test data, their DVC pointers, the schema file, or the ``data:`` rules in
``mlops.yaml``; it checks the work-tree files, after making sure they are the bytes the
staged pointers name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlx.adapters.git import Git
from mlx.data.report import DataChecked
from mlx.errors import CheckFailed

if TYPE_CHECKING:
    from mlx.config.model import ProjectConfig
    from mlx.data.report import ValidationReport


@dataclass
class PreCommitResult(DataChecked):
    config: str  # path relative to the repo root
    config_source: str  # "index" or "work tree"
    data_checked: bool
    reasons: list[str] = field(default_factory=list)  # why data was (or was not) checked
    data: ValidationReport | None = None  # when data was checked

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hook": "pre-commit",
            "config": {"path": self.config, "source": self.config_source, "valid": True},
            "data_checked": self.data_checked,
            "reasons": self.reasons,
            "data": self.data_dict(),
        }


def pre_commit(config: Path | str | None = None) -> PreCommitResult:
    from mlx.config import find_config, parse_config
    from mlx.config.model import ProjectConfig

    cfg_path = Path(config).resolve() if config is not None else find_config()
    if cfg_path.is_dir():
        cfg_path = cfg_path / "mlops.yaml"
    git = Git.discover(cfg_path.parent if cfg_path.parent.exists() else Path.cwd())
    rel = git.relative(cfg_path).as_posix()
    staged_text = git.show("", rel)
    if staged_text is not None:
        text, source = staged_text.decode("utf-8"), "index"
    elif cfg_path.is_file():
        text, source = cfg_path.read_text(encoding="utf-8"), "work tree"
    else:
        from mlx.errors import ConfigError

        raise ConfigError(f"config file not found: {rel}", hint="pass --config PATH")
    cfg = parse_config(text, rel)
    project = ProjectConfig(cfg, cfg_path)
    result = PreCommitResult(rel, source, data_checked=False)
    result.reasons = _data_reasons(git, project, rel)
    if not result.reasons:
        return result
    _check_pointers_match(git, project)
    from mlx.data.validate import validate_file

    result.data_checked = True
    result.data = validate_file(project, project.resolve(cfg.data.train))
    return result


def _data_paths(project: ProjectConfig) -> dict[str, str]:
    """Repo-relative paths whose change means the data must be validated again."""
    cfg = project.config.data
    paths = {}
    for key, value in (("data.train", cfg.train), ("data.test", cfg.test)):
        if value:
            paths[key] = value
            paths[f"{key} pointer"] = value + ".dvc"
    if cfg.schema_file:
        paths["data.schema"] = cfg.schema_file
    return paths


def _data_reasons(git: Git, project: ProjectConfig, config_rel: str) -> list[str]:
    staged = set(git.staged_paths())
    reasons = []
    for what, value in _data_paths(project).items():
        rel = git.relative(project.resolve(value).resolve()).as_posix()
        if rel in staged:
            reasons.append(f"{what} changed ({rel})")
    if config_rel in staged and _data_rules_changed(git, project, config_rel):
        reasons.append(f"the data rules in {config_rel} changed")
    return reasons


def _data_rules_changed(git: Git, project: ProjectConfig, config_rel: str) -> bool:
    from mlx.config import parse_config
    from mlx.errors import ConfigError

    before = git.show("HEAD", config_rel) if git.head() else None
    if before is None:
        return True
    try:
        old = parse_config(before.decode("utf-8"), config_rel)
    except ConfigError:
        return True
    return old.data != project.config.data


def _check_pointers_match(git: Git, project: ProjectConfig) -> None:
    """The work-tree data must be what the staged pointers name, or we would validate
    other bytes than the ones being committed."""
    from mlx.adapters import dvc

    cfg = project.config.data
    for value in filter(None, (cfg.train, cfg.test)):
        path = project.resolve(value).resolve()
        pointer = dvc.pointer_path(path)
        staged = git.show("", PurePosixPath(git.relative(pointer)).as_posix())
        if staged is None or not path.is_file():
            continue  # not DVC-tracked, or not pulled (validation reports that)
        md5 = dvc.parse_pointer(staged, pointer).md5
        if dvc.file_md5(path) != md5:
            rel = git.relative(path).as_posix()
            raise CheckFailed(
                f"{rel} in the work tree is not the version its staged pointer names",
                hint=f"`dvc add {rel}` and stage {rel}.dvc again, or `dvc checkout {rel}.dvc`",
            )

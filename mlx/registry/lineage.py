"""Where a model version came from, from Git alone (works in a fresh clone, no dvc pull).

Everything comes from the tags and the files committed with the model: the ``.dvc``
pointers (model md5), ``metadata.json`` (data path and md5, params, seed, runner,
package versions, training metrics) and ``eval/metrics.json`` (eval metrics, gates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import MlxError, NotAGitRepo, RefError
from mlx.metadata import parse_metadata
from mlx.model_files import EVAL_METRICS, METADATA
from mlx.registry import tags as T
from mlx.registry.refs import ResolvedModel, resolve
from mlx.registry.store import ArtifactState, Registry, VersionState
from mlx.registry.writer import CommitFacts, parse_lineage, read_commit


@dataclass
class Lineage:
    resolved: ResolvedModel
    model: dict[str, Any]
    data: dict[str, Any] | None
    params: dict[str, Any] | None
    seed: int | None
    metrics: dict[str, Any] | None
    eval: dict[str, Any] | None
    parent: dict[str, Any] | None
    registration: dict[str, Any] | None
    stages: list[str]
    runner: dict[str, Any] | None
    packages: dict[str, Any] | None
    code: dict[str, Any] | None
    trained_at: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] | None = None  # --name / --set / dvc exp / tune trial

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "resolved"}
        return {**self.resolved.to_dict(), **out}


def lineage(project: ProjectConfig, ref: str | None = None) -> Lineage:
    """The lineage of the model ``ref`` names (see :func:`mlx.registry.refs.resolve`)."""
    try:
        git: Git | None = Git.discover(project.root)
    except NotAGitRepo:
        git = None
    if ref is not None and git is None:
        raise RefError(f"cannot resolve {ref!r} outside a git repository")
    reg = Registry.load(git) if git else None
    resolved = resolve(project, ref, git=git, registry=reg)
    if resolved.commit is None:
        facts = _facts_from_folder(resolved.folder, git)  # type: ignore[arg-type]
    else:
        facts = read_commit(git, resolved.commit, resolved.model_path)  # type: ignore[arg-type]
    meta, ev = facts.metadata, facts.eval
    art = reg.artifact(resolved.name) if reg else None
    version = art.version(resolved.version) if art and resolved.version else None
    commit = resolved.commit
    if commit is None and git is not None and facts.commit:
        # a work-tree folder is the HEAD version when nothing in it changed since
        dirty = resolved.folder is None or git.is_dirty([resolved.folder], untracked=True)
        commit = None if dirty else facts.commit
    if version is None and art is not None and commit:
        version = art.at_commit(commit)
    reg_event = version.registration if version else None
    return Lineage(
        resolved=resolved,
        model={
            "path": facts.model_path,
            "md5": facts.model_md5,
            "files": facts.pointers,
            "task": meta.task if meta else None,
            "features": [f.name for f in meta.features] or None if meta else None,
        },
        data=(meta.data.model_dump(exclude_unset=True) if meta and meta.data else None)
        or (ev or {}).get("data"),
        params=meta.params if meta else None,
        seed=meta.seed if meta else None,
        metrics=meta.metrics if meta else None,
        eval=_eval_summary(ev, facts),
        parent=_parent(art, version.version if version else None),
        registration=(
            {
                "version": version.version,
                "tag": reg_event.tag,
                "at": reg_event.created_at.isoformat(),
                "by": reg_event.author,
                "status": "deregistered" if version.deregistered else "active",
                "lineage": parse_lineage(reg_event.message),
            }
            if version and reg_event
            else None
        ),
        stages=art.stages_of(version) if art and version and version.active else [],
        runner=meta.runner if meta else None,
        packages=meta.packages if meta else None,
        code=meta.code.model_dump(exclude_unset=True) if meta else None,
        trained_at=meta.trained_at if meta else None,
        events=_events(art, version),
        run=meta.run.model_dump(exclude_none=True, exclude_defaults=True)
        if meta and meta.run
        else None,
    )


def _facts_from_folder(folder: Path, git: Git | None) -> CommitFacts:
    head = git.head() if git else None
    rel = str(git.relative(folder)) if git else str(folder)
    facts = CommitFacts(head or "", rel)
    for name in ("model.onnx", "model.lgb.txt"):
        ptr = dvc.read_pointer(folder / name)
        if ptr is not None:
            facts.pointers[name] = ptr.md5
    facts.model_md5 = facts.pointers.get("model.onnx")
    meta_file, eval_file = folder / METADATA, folder / EVAL_METRICS
    if meta_file.is_file():
        try:
            facts.metadata = parse_metadata(meta_file.read_bytes(), str(meta_file))
        except MlxError:
            pass  # not mlx metadata: the lineage shows the pointers and the eval results
    if eval_file.is_file():
        try:
            facts.eval = json.loads(eval_file.read_text(encoding="utf-8"))
        except ValueError:
            pass
    return facts


def _eval_summary(ev: dict[str, Any] | None, facts: CommitFacts) -> dict[str, Any] | None:
    if ev is None:
        return None
    gates = ev.get("gates") or {}
    return {
        "passed": ev.get("passed") is True,
        "metrics": ev.get("metrics"),
        "gates": gates.get("results"),
        "skipped": gates.get("skipped"),
        "baseline": ev.get("baseline"),
        "evaluated_at": ev.get("evaluated_at"),
        "matches_model": (ev.get("model") or {}).get("md5") == facts.model_md5,
    }


def _parent(art: ArtifactState | None, version: str | None) -> dict[str, Any] | None:
    """The registered version just below ``version`` (or the greatest, for a commit)."""
    if art is None:
        return None
    registered = sorted(
        (v for v in art.versions.values() if v.registered), key=lambda v: T.SemVer(v.version)
    )
    if version is not None and T.SemVer.is_valid(version):
        below = [v for v in registered if T.SemVer(v.version) < T.SemVer(version)]
    else:
        below = registered
    if not below:
        return None
    p = below[-1]
    return {
        "version": p.version,
        "commit": p.commit,
        "status": "deregistered" if p.deregistered else "active",
    }


def _events(art: ArtifactState | None, version: VersionState | None) -> list[dict[str, Any]]:
    if art is None or version is None:
        return []
    return [
        {
            "event": e.kind,
            "stage": e.stage,
            "tag": e.tag,
            "at": e.created_at.isoformat(),
            "by": e.author,
            "reason": (parse_lineage(e.message) or {}).get("reason"),
        }
        for e in art.events
        if e.version == version.version
    ]

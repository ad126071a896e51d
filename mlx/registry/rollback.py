"""Registry writes that take a stage away: roll_back (back to the previous holder) and
demote (GTO's unassign tag). Like :mod:`mlx.registry.promote`: checks, then the registry
lock, then GTO-format annotated tags with lineage messages (:mod:`mlx.registry.writer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import PromotionRefused
from mlx.registry import tags as T
from mlx.registry import writer as W
from mlx.registry.change import RegistryChange, artifact_of, check_stage
from mlx.registry.refs import model_path, resolve
from mlx.registry.store import ArtifactState, Registry, VersionState


def roll_back(
    project: ProjectConfig, name: str, *, stage: str, reason: str | None = None, push: bool = False
) -> RegistryChange:
    """Give ``stage`` back to its previous holder: unassign the current one, reassign it."""
    check_stage(project, stage)
    git = Git.discover(project.root)
    by = git.user()
    change = RegistryChange("rollback", name, stage=stage, reason=reason)
    with W.registry_lock(git):
        reg = Registry.load(git)
        art = artifact_of(reg, name)
        if art.deprecated:
            raise PromotionRefused(f"{name} is deprecated", hint="promote a version to revive it")
        held = art.holder(stage)
        if held is None:
            raise PromotionRefused(f"no version of {name} holds {stage!r}: nothing to roll back")
        current = held[0]
        target = previous_holder(art, stage, current)
        if target is None:
            raise PromotionRefused(
                f"no earlier version of {name} held {stage!r} (and is still active)",
                hint=f"demote {name}@{current.version} instead: `mlx demote {name} --stage {stage}`",
            )
        change.previous, change.version, change.commit = (
            current.version,
            target.version,
            target.commit,
        )
        facts = W.read_commit(git, target.commit, model_path(project, git, name, target.commit))
        if push:
            change.pushed = W.push_artifacts(project, git, facts)
        W.wait_past(reg.newest_time(name))
        n = reg.next_counter(name)
        common: dict[str, Any] = {"by": by, "reason": reason}
        out_tag = T.unassignment_tag(name, stage, n)
        msg = T.default_message(T.UNASSIGNMENT, name, current.version, stage)
        extra = {"version": current.version, "stage": stage, "rollback_to": target.version}
        old = W.read_commit(git, current.commit, model_path(project, git, name, current.commit))
        git.create_tag(
            out_tag,
            current.commit,
            W.lineage_message(msg, action="unassign", facts=old, extra=extra, **common),
        )
        in_tag = T.assignment_tag(name, stage, n + 1)
        msg = T.default_message(T.ASSIGNMENT, name, target.version, stage)
        extra = {"version": target.version, "stage": stage, "rollback_from": current.version}
        git.create_tag(
            in_tag,
            target.commit,
            W.lineage_message(msg, action="assign", facts=facts, extra=extra, **common),
        )
        change.tags = [out_tag, in_tag]
    change.holder = target.version
    if push:
        assert change.pushed is not None
        change.pushed.update(W.push_tags(project, git, change.tags))
    return change


def previous_holder(art: ArtifactState, stage: str, current: VersionState) -> VersionState | None:
    """The version that held ``stage`` most recently before ``current`` and still may:
    active, and not unassigned from the stage since (so rolled-back versions are skipped)."""
    assignments = sorted(
        (
            (e, v)
            for v in art.versions.values()
            for e in v.stage_events.get(stage, [])
            if e.kind == T.ASSIGNMENT
        ),
        key=lambda ev: ev[0].sort_key,
        reverse=True,
    )
    for _, v in assignments:
        if v is not current and v.active and v.stage_active(stage) is not None:
            return v
    return None


def demote(
    project: ProjectConfig,
    ref: str | None = None,
    *,
    stage: str,
    reason: str | None = None,
    push: bool = False,
) -> RegistryChange:
    """Unassign ``stage`` (GTO's unassign tag) from the current holder, or from ``ref``."""
    git = Git.discover(project.root)
    by = git.user()
    with W.registry_lock(git):
        reg = Registry.load(git)
        name, version = _demote_target(project, git, reg, ref, stage)
        change = RegistryChange("demote", name, version=version.version, stage=stage, reason=reason)
        change.commit, change.previous = version.commit, version.version
        W.wait_past(reg.newest_time(name))
        tag = T.unassignment_tag(name, stage, reg.next_counter(name))
        msg = T.default_message(T.UNASSIGNMENT, name, version.version, stage)
        facts = W.read_commit(git, version.commit, model_path(project, git, name, version.commit))
        extra = {"version": version.version, "stage": stage}
        git.create_tag(
            tag,
            version.commit,
            W.lineage_message(
                msg, action="unassign", facts=facts, by=by, reason=reason, extra=extra
            ),
        )
        change.tags = [tag]
        after = Registry.load(git).artifact(name)
        held = after.holder(stage) if after else None
        change.holder = held[0].version if held else None
        if change.holder:
            change.notes.append(f"{stage} falls back to {name}@{change.holder}")
    if push:
        change.pushed = W.push_tags(project, git, change.tags)
    return change


def _demote_target(
    project: ProjectConfig, git: Git, reg: Registry, ref: str | None, stage: str
) -> tuple[str, VersionState]:
    cfg_name = project.config.model.name
    bare = ref is None or (
        T.NAME_RE.match(ref) is not None
        and (reg.artifact(ref) is not None or ref == cfg_name)
        and not Path(ref).is_dir()
    )
    if bare:
        name = ref or cfg_name
        held = artifact_of(reg, name).holder(stage)
        if held is None:
            raise PromotionRefused(f"no version of {name} holds {stage!r}: nothing to demote")
        return name, held[0]
    resolved = resolve(project, ref, git=git, registry=reg)
    art = artifact_of(reg, resolved.name)
    commit = resolved.commit or git.head()
    version = (art.at_commit(commit) or art.versions.get(commit or "")) if commit else None
    if version is None or version.stage_active(stage) is None:
        raise PromotionRefused(f"{resolved.label} is not in stage {stage!r}: nothing to demote")
    return resolved.name, version

"""Registry writes on stages: promote (register + assign), roll_back, demote.

Each one checks what it may do, then takes the registry lock, reads all tags, computes
the version / counter / holder, and writes GTO-format annotated tags whose messages
carry structured lineage (:mod:`mlx.registry.writer`). Refusals are
:class:`~mlx.errors.PromotionRefused` (exit 1) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import PromotionRefused, TagExists, UsageError
from mlx.registry import tags as T
from mlx.registry import writer as W
from mlx.registry.refs import model_path, resolve
from mlx.registry.store import ArtifactState, Registry, VersionState

BUMPS = ("major", "minor", "patch")


@dataclass
class RegistryChange:
    """What a registry write did."""

    action: str  # promote | rollback | demote | deprecate | deregister
    name: str
    version: str | None = None
    stage: str | None = None
    commit: str | None = None
    tags: list[str] = field(default_factory=list)  # created by this call
    registered: bool = False  # a new version was registered
    previous: str | None = None  # who held the stage before
    holder: str | None = None  # who holds it now
    forced: bool = False
    reason: str | None = None
    unchanged: bool = False
    pushed: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


# --- promote -----------------------------------------------------------------------------


def promote(
    project: ProjectConfig,
    ref: str | None = None,
    *,
    stage: str,
    version: str | None = None,
    bump: str | None = None,
    force: bool = False,
    reason: str | None = None,
    push: bool = False,
) -> RegistryChange:
    """Register the commit ``ref`` names (if needed) and assign it ``stage``."""
    if version and bump:
        raise UsageError("--version and --bump are exclusive")
    if bump is not None and bump not in BUMPS:
        raise UsageError(f"unknown bump {bump!r}", hint="one of major, minor, patch")
    if version is not None:
        T.SemVer(version)  # a malformed version is a usage error
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason '...': the reason is recorded in the tag")
    _check_stage(project, stage)
    git = Git.discover(project.root)
    dirty = git.dirty_files()
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise PromotionRefused(
            f"the working tree has uncommitted changes ({shown})",
            hint="commit or stash them: a model version is a commit",
            details={"dirty": dirty},
        )
    name, commit, rel = _commit_target(project, git, ref)
    facts = W.read_commit(git, commit, rel)
    if facts.model_md5 is None:
        raise PromotionRefused(
            f"no model at {commit[:10]}: {rel}/model.onnx.dvc is not in that commit",
            hint="train and commit a model first (`mlx train --commit`)",
        )
    change = RegistryChange("promote", name, stage=stage, commit=commit, reason=reason)
    if project.config.registry.require_eval:
        problem = W.eval_problem(facts)
        if problem and not force:
            raise PromotionRefused(
                problem,
                hint="fix it, or override with --force --reason '...' (recorded in the tag)",
            )
        change.forced = problem is not None
        if problem:
            change.notes.append(f"forced past: {problem}")
    else:
        change.notes.append("registry.require_eval is false: eval results were not checked")
    by = git.user()

    with W.registry_lock(git):
        reg = Registry.load(git)
        art = reg.artifact(name)
        existing = art.at_commit(commit) if art else None
        ver, new = _choose_version(reg, art, name, existing, version, bump)
        change.version, change.registered = ver, new
        held = art.holder(stage) if art else None
        change.previous = held[0].version if held else None
        if art is not None and art.deprecated:
            change.notes.append(f"{name} was deprecated; this promotion makes it active again")
        if held and held[0].version == ver and not new:
            change.unchanged, change.holder = True, ver
            change.notes.append(f"{name}@{ver} already holds {stage}; no tag written")
            if push:
                change.pushed = W.push_artifacts(project, git, facts)
                assert existing is not None and existing.registration is not None
                change.pushed.update(
                    W.push_tags(project, git, [existing.registration.tag, held[1].tag])
                )
            return change
        if push:  # artifacts first: if this fails, no tag is created at all
            change.pushed = W.push_artifacts(project, git, facts)
        W.wait_past(reg.newest_time(name))
        common: dict[str, Any] = {
            "facts": facts,
            "by": by,
            "reason": reason,
            "forced": change.forced,
        }
        try:
            if new:
                tag = T.registration_tag(name, ver)
                msg = T.default_message(T.REGISTRATION, name, ver)
                git.create_tag(tag, commit, W.lineage_message(msg, action="register", **common))
                change.tags.append(tag)
            tag = T.assignment_tag(name, stage, reg.next_counter(name))
            msg = T.default_message(T.ASSIGNMENT, name, ver, stage)
            extra = {"version": ver, "stage": stage, "previous": change.previous}
            git.create_tag(
                tag, commit, W.lineage_message(msg, action="assign", extra=extra, **common)
            )
            change.tags.append(tag)
        except TagExists as exc:
            raise PromotionRefused(
                f"{exc.message}: another registry write got there first", hint="run it again"
            ) from None
    change.holder = ver
    if push:
        reg_tag = T.registration_tag(name, ver) if new else existing.registration.tag  # type: ignore[union-attr]
        tags = [reg_tag] + [t for t in change.tags if t != reg_tag]
        assert change.pushed is not None
        change.pushed.update(W.push_tags(project, git, tags))
    return change


def _check_stage(project: ProjectConfig, stage: str) -> None:
    stages = project.config.registry.stages
    if stage not in stages:
        raise PromotionRefused(
            f"stage {stage!r} is not in registry.stages ({', '.join(stages)})",
            hint="pick one of those, or add it to registry.stages in mlops.yaml",
        )


def _commit_target(project: ProjectConfig, git: Git, ref: str | None) -> tuple[str, str, str]:
    """(artifact name, commit, model folder at that commit) for the model to promote."""
    resolved = resolve(project, ref, git=git)
    if resolved.commit is not None:
        assert resolved.model_path is not None
        return resolved.name, resolved.commit, resolved.model_path
    assert resolved.folder is not None
    if resolved.folder.resolve() != project.model_dir.resolve():
        raise UsageError(
            f"{resolved.folder} is not the configured model folder; promote a commit instead",
            hint="pass a commit, a tag or NAME@vX.Y.Z",
        )
    head = git.head()
    if head is None:
        raise PromotionRefused("the repository has no commits yet", hint="commit the model first")
    name = resolved.name
    return name, head, model_path(project, git, name, head)


def _choose_version(
    reg: Registry,
    art: ArtifactState | None,
    name: str,
    existing: VersionState | None,
    version: str | None,
    bump: str | None,
) -> tuple[str, bool]:
    """(version, whether it must be registered now)."""
    if existing is not None:
        if existing.deregistered:
            raise PromotionRefused(
                f"{name}@{existing.version} at this commit was deregistered",
                hint="GTO allows one version per commit: commit the model again to register it",
            )
        if version and version != existing.version:
            raise PromotionRefused(
                f"this commit is already registered as {name}@{existing.version}, not {version}"
            )
        if bump:
            raise PromotionRefused(
                f"this commit is already registered as {name}@{existing.version}; "
                "--bump applies only to new versions"
            )
        return existing.version, False
    greatest = art.greatest_ever() if art else None
    if version:
        taken = reg.tag_exists(T.registration_tag(name, version)) or (
            art is not None and art.version(version) is not None
        )
        if taken:
            raise PromotionRefused(f"version {name}@{version} already exists")
        if greatest is not None and not T.SemVer(version) > greatest:
            raise PromotionRefused(
                f"version {version} is not greater than {name}'s greatest version {greatest}",
                hint=f"use a version above {greatest}, or --bump major|minor|patch",
            )
        return version, True
    return (greatest or T.ZERO).bump(bump or "patch").text, True


# --- rollback, demote ------------------------------------------------------------------


def roll_back(
    project: ProjectConfig, name: str, *, stage: str, reason: str | None = None, push: bool = False
) -> RegistryChange:
    """Give ``stage`` back to its previous holder: unassign the current one, reassign it."""
    _check_stage(project, stage)
    git = Git.discover(project.root)
    by = git.user()
    change = RegistryChange("rollback", name, stage=stage, reason=reason)
    with W.registry_lock(git):
        reg = Registry.load(git)
        art = _artifact(reg, name)
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
        held = _artifact(reg, name).holder(stage)
        if held is None:
            raise PromotionRefused(f"no version of {name} holds {stage!r}: nothing to demote")
        return name, held[0]
    resolved = resolve(project, ref, git=git, registry=reg)
    art = _artifact(reg, resolved.name)
    commit = resolved.commit or git.head()
    version = (art.at_commit(commit) or art.versions.get(commit or "")) if commit else None
    if version is None or version.stage_active(stage) is None:
        raise PromotionRefused(f"{resolved.label} is not in stage {stage!r}: nothing to demote")
    return resolved.name, version


def _artifact(reg: Registry, name: str) -> ArtifactState:
    art = reg.artifact(name)
    if art is None or not art.events:
        from mlx.errors import RefError

        raise RefError(
            f"no artifact {name!r} in the registry", hint="register it with `mlx promote`"
        )
    return art


@dataclass(frozen=True)
class StageChange:
    """What ``mlx promote`` asks of a stage: a promotion (``version``/``bump``/``force``),
    a rollback, or an unassign; :func:`change_stage` applies the option rules."""

    stage: str
    version: str | None = None
    bump: str | None = None  # "patch" | "minor" | "major"
    force: bool = False
    reason: str | None = None
    push: bool = False
    rollback: bool = False
    unassign: bool = False


def change_stage(project: ProjectConfig, ref: str | None, change: StageChange) -> RegistryChange:
    """``mlx promote``: promote ``ref`` to the stage, roll the stage back, or unassign it."""
    c = change
    if c.rollback and c.unassign:
        raise UsageError("--rollback and --unassign are exclusive")
    if (c.rollback or c.unassign) and (c.version or c.bump or c.force):
        raise UsageError("--version, --bump and --force apply to promotions, not rollbacks")
    if c.rollback:
        name = ref or project.config.model.name
        return roll_back(project, name, stage=c.stage, reason=c.reason, push=c.push)
    if c.unassign:
        return demote(project, ref, stage=c.stage, reason=c.reason, push=c.push)
    return promote(
        project, ref, stage=c.stage, version=c.version, bump=c.bump, force=c.force,
        reason=c.reason, push=c.push,
    )  # fmt: skip

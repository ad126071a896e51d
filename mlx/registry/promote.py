"""Registry writes on stages: promote (register + assign); ``mlx promote``'s options
(:class:`StageChange`) to a promotion, a rollback or an unassign (:mod:`mlx.registry.rollback`).

Each one checks what it may do, then takes the registry lock, reads all tags, computes
the version / counter / holder, and writes GTO-format annotated tags whose messages
carry structured lineage (:mod:`mlx.registry.writer`). Refusals are
:class:`~mlx.errors.PromotionRefused` (exit 1) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import PromotionRefused, TagExists, UsageError
from mlx.registry import tags as T
from mlx.registry import writer as W
from mlx.registry.change import RegistryChange, check_stage
from mlx.registry.refs import model_path, resolve
from mlx.registry.rollback import demote, roll_back
from mlx.registry.store import ArtifactState, Registry, VersionState

BUMPS = ("major", "minor", "patch")


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
    check_stage(project, stage)
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

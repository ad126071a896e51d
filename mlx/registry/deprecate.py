"""Registry writes on whole versions and artifacts: deregister and deprecate."""

from __future__ import annotations

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import PromotionRefused
from mlx.registry import tags as T
from mlx.registry import writer as W
from mlx.registry.change import RegistryChange, artifact_of
from mlx.registry.store import Registry


def deprecate(
    project: ProjectConfig,
    name: str,
    version: str | None = None,
    *,
    reason: str | None = None,
    push: bool = False,
) -> RegistryChange:
    """Deprecate the artifact (``NAME@deprecated``) or deregister one version (``NAME@vX!``)."""
    T.check_name(name)
    git = Git.discover(project.root)
    by = git.user()
    with W.registry_lock(git):
        reg = Registry.load(git)
        art = artifact_of(reg, name)
        if version is not None:
            T.SemVer(version)
            v = art.version(version)
            if v is None or not v.registered:
                raise PromotionRefused(f"{name} has no version {version}")
            if v.deregistered:
                raise PromotionRefused(f"{name}@{version} is deregistered already")
            change = RegistryChange(
                "deregister", name, version=version, commit=v.commit, reason=reason
            )
            held = art.stages_of(v)
            tag = T.deregistration_tag(name, version)
            msg = T.default_message(T.DEREGISTRATION, name, version)
            extra = {"version": version, "stages_held": held}
            commit = v.commit
        else:
            if art.deprecated:
                raise PromotionRefused(f"{name} is deprecated already")
            change = RegistryChange("deprecate", name, reason=reason)
            tag = T.deprecation_tag(name)
            if reg.tag_exists(tag):  # deprecated before, then revived: GTO's `--force` form
                tag = T.deprecation_tag(name, reg.next_counter(name))
            msg = T.default_message(T.DEPRECATION, name)
            extra = {}
            commit = art.events[-1].commit  # where GTO puts it: the newest event's commit
            change.commit = commit
        W.wait_past(reg.newest_time(name))
        action = "deregister" if version else "deprecate"
        git.create_tag(
            tag,
            commit,
            W.lineage_message(msg, action=action, facts=None, by=by, reason=reason, extra=extra),
        )
        change.tags = [tag]
        if version is not None and held:
            after = Registry.load(git).artifact(name)
            for stage in held:
                now = after.holder(stage) if after else None
                fallback = f"{name}@{now[0].version}" if now else "nobody"
                change.notes.append(f"{name}@{version} held {stage}; {stage} now: {fallback}")
    if push:
        change.pushed = W.push_tags(project, git, change.tags)
    return change

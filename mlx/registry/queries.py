"""Reading the registry: show, history, check-ref. One ``git for-each-ref`` pass each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import RefError
from mlx.registry import tags as T
from mlx.registry.store import ArtifactState, Event, Registry, VersionState


def _when(ev: Event | None) -> str | None:
    return ev.created_at.isoformat() if ev else None


def _version_dict(art: ArtifactState, v: VersionState) -> dict[str, Any]:
    reg = v.registration
    return {
        "version": v.version,
        "commit": v.commit,
        "registered": v.registered,
        "status": "deregistered" if v.deregistered else "active",
        "registered_at": _when(reg),
        "author": reg.author if reg else None,
        "tag": reg.tag if reg else None,
        "stages": art.stages_of(v) if v.active else [],
    }


@dataclass
class ArtifactView:
    name: str
    registered: bool
    deprecated: bool
    latest: dict[str, Any] | None
    stages: dict[str, dict[str, Any] | None]
    versions: list[dict[str, Any]] | None = None  # only for `mlx show NAME`

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if self.versions is None:
            out.pop("versions")
        return out


@dataclass
class ShowResult:
    stages: list[str]
    artifacts: list[ArtifactView] = field(default_factory=list)
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stages": self.stages,
            "artifacts": [a.to_dict() for a in self.artifacts],
        }


def show(project: ProjectConfig, name: str | None = None, git: Git | None = None) -> ShowResult:
    """Artifacts, their latest version and who holds each stage (``name``: one, with versions)."""
    git = git or Git.discover(project.root)
    reg = Registry.load(git)
    cfg_name = project.config.model.name
    names = [name] if name else sorted(set(reg.artifacts) | {cfg_name})
    used = {s for a in reg.artifacts.values() for s in a.holders()}
    stages = list(project.config.registry.stages) + sorted(
        used - set(project.config.registry.stages)
    )
    result = ShowResult(stages=stages, name=name)
    for n in names:
        art = reg.artifact(n)
        if art is None or not art.events:
            if name is not None and n != cfg_name:
                known = ", ".join(sorted(reg.artifacts)) or "none yet"
                raise RefError(f"no artifact {n!r} in the registry", hint=f"artifacts: {known}")
            result.artifacts.append(
                ArtifactView(n, False, False, None, dict.fromkeys(stages), [] if name else None)
            )
            continue
        holders = art.holders()
        latest = art.latest()
        view = ArtifactView(
            name=n,
            registered=True,
            deprecated=art.deprecated,
            latest=_version_dict(art, latest) if latest else None,
            stages={
                s: (
                    {
                        "version": holders[s][0].version,
                        "commit": holders[s][0].commit,
                        "tag": holders[s][1].tag,
                        "assigned_at": _when(holders[s][1]),
                        "author": holders[s][1].author,
                    }
                    if s in holders
                    else None
                )
                for s in stages
            },
        )
        if name is not None:
            ordered = sorted(
                art.versions.values(),
                key=lambda v: (v.registered, T.SemVer(v.version) if v.registered else T.ZERO),
                reverse=True,
            )
            view.versions = [_version_dict(art, v) for v in ordered]
        result.artifacts.append(view)
    return result


@dataclass
class HistoryResult:
    name: str | None
    events: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "events": self.events}


def history(
    project: ProjectConfig, name: str | None = None, git: Git | None = None
) -> HistoryResult:
    """Registrations, assignments, unassignments, deregistrations, deprecations; newest first."""
    from mlx.registry.writer import parse_lineage

    git = git or Git.discover(project.root)
    reg = Registry.load(git)
    if name is not None and reg.artifact(name) is None:
        known = ", ".join(sorted(reg.artifacts)) or "none yet"
        raise RefError(f"no artifact {name!r} in the registry", hint=f"artifacts: {known}")
    arts = [reg.artifacts[name]] if name else list(reg.artifacts.values())
    events = sorted((e for a in arts for e in a.events), key=lambda e: e.sort_key, reverse=True)
    return HistoryResult(
        name, [{**e.to_dict(), "lineage": parse_lineage(e.message)} for e in events]
    )


@dataclass
class CheckRefResult:
    ref: str
    tag: str
    event: str | None  # registration | deregistration | assignment | unassignment | deprecation
    name: str | None = None
    version: str | None = None
    stage: str | None = None
    commit: str | None = None
    created_at: str | None = None
    author: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def github_outputs(self) -> dict[str, str]:
        """What gto-action exports: event, name, version, stage (empty when not set)."""
        return {k: getattr(self, k) or "" for k in ("event", "name", "version", "stage")}


def check_ref(ref: str, git: Git) -> CheckRefResult:
    """What a (pushed) tag means for the registry (needs no mlops.yaml)."""
    tag = ref.removeprefix("refs/tags/")
    reg = Registry.load(git)
    record = reg.records.get(tag)
    if record is None:
        raise RefError(f"no tag {tag!r} in this repository", hint="`git fetch --tags` first?")
    ev = reg.event_for_tag(tag)
    if ev is None:
        why = "is a lightweight tag (GTO reads annotated tags only)"
        if T.parse_tag(tag) is None:
            why = "is not a registry tag (GTO format)"
        return CheckRefResult(ref, tag, None, note=f"{tag} {why}")
    return CheckRefResult(
        ref,
        tag,
        ev.kind,
        name=ev.artifact,
        version=ev.version,
        stage=ev.stage,
        commit=ev.commit,
        created_at=_when(ev),
        author=ev.author,
    )

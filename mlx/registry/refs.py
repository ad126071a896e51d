"""One resolver for every command that takes a model reference.

Accepted references, tried in this order:

- nothing (``None``): the model in the work tree, as configured in ``mlops.yaml``;
- ``NAME#STAGE``: the version currently holding the stage (GTO semantics, correct after
  unassignments and deprecations);
- ``NAME@vX.Y.Z``: that registered version; ``NAME@latest`` (or ``@greatest``): the highest
  active registered version;
- a GTO tag name (``churn#prod#3``, ``churn@v1.0.0``): the version that tag is about;
- a path to a model folder (``models/churn``);
- any git revision (commit sha, branch, other tag): the model at that commit.

All registry references are answered from one ``git for-each-ref`` pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import MlxError, RefError
from mlx.model_files import METADATA
from mlx.registry import tags as T
from mlx.registry.store import ArtifactState, Registry, VersionState
from mlx.util import yamlsafe

KINDS = ("workspace", "path", "stage", "version", "latest", "tag", "commit")


@dataclass
class ResolvedModel:
    """What a reference names. ``commit`` is None only for ``workspace`` and ``path``."""

    ref: str | None  # what was asked for
    kind: str  # one of KINDS
    name: str  # artifact name
    commit: str | None = None
    version: str | None = None  # registered version at that commit, if any
    stage: str | None = None  # the stage asked for (kind "stage") or named by the tag
    tag: str | None = None  # the tag that decided the answer
    folder: Path | None = None  # local folder (workspace, path)
    model_path: str | None = None  # the model folder inside the repo, relative to the git root
    deprecated: bool = False

    @property
    def label(self) -> str:
        """A short human name: ``churn@v1.2.0``, ``churn@3f2a1c9``, or the folder."""
        if self.version and T.SemVer.is_valid(self.version):
            return f"{self.name}@{self.version}"
        if self.commit:
            return f"{self.name}@{self.commit[:7]}"
        return str(self.folder)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "commit": self.commit,
            "tag": self.tag,
            "folder": str(self.folder) if self.folder else None,
            "model_path": self.model_path,
            "deprecated": self.deprecated,
        }


def resolve(
    project: ProjectConfig,
    ref: str | None,
    *,
    git: Git | None = None,
    registry: Registry | None = None,
) -> ResolvedModel:
    """Resolve ``ref`` (see the module docstring); :class:`RefError` (exit 2) if it does not."""
    cfg_name = project.config.model.name
    if ref is None or ref == "":
        return ResolvedModel(None, "workspace", cfg_name, folder=project.model_dir)
    git = git or Git.discover(project.root)

    shortcut = None if ref.startswith("refs/tags/") else T.SHORTCUT_RE.match(ref)
    if shortcut:
        registry = registry or Registry.load(git)
        return _from_shortcut(project, git, registry, ref, shortcut)

    parsed = T.parse_tag(ref.removeprefix("refs/tags/"))
    if parsed is not None:
        registry = registry or Registry.load(git)
        event = registry.event_for_tag(parsed.tag)
        if event is not None:
            art = registry.artifact(event.artifact)
            version = event.version
            if version is None and art is not None:  # deprecation: whatever is at the commit
                found = art.at_commit(event.commit)
                version = found.version if found else None
            return _at_commit(
                project,
                git,
                ref,
                "tag",
                event.artifact,
                event.commit,
                version=version,
                stage=event.stage,
                tag=event.tag,
                deprecated=bool(art and art.deprecated),
            )

    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir():
        return _from_folder(project, ref, path.resolve())

    commit = git.resolve_commit(ref)
    if commit is not None:
        registry = registry or Registry.load(git)
        art = registry.artifact(cfg_name)
        found = art.at_commit(commit) if art else None
        return _at_commit(
            project,
            git,
            ref,
            "commit",
            cfg_name,
            commit,
            version=found.version if found and found.active else None,
            deprecated=bool(art and art.deprecated),
        )

    hint = "use NAME#STAGE, NAME@vX.Y.Z, NAME@latest, a commit, or a model folder"
    registry = registry or Registry.load(git)
    if registry.artifact(ref) is not None or ref == cfg_name:
        hint = f"name a version of it: {ref}@latest, {ref}#prod, {ref}@v1.0.0"
    raise RefError(f"cannot resolve model reference {ref!r}", hint=hint)


def _from_shortcut(
    project: ProjectConfig, git: Git, registry: Registry, ref: str, m: re.Match[str]
) -> ResolvedModel:
    name, stage, version = m["artifact"], m["stage"], m["version"]
    art = registry.artifact(name)
    if art is None or not art.events:
        known = ", ".join(sorted(registry.artifacts)) or "none yet"
        raise RefError(
            f"no artifact {name!r} in the registry",
            hint=f"registered artifacts: {known}; register one with `mlx promote --stage STAGE`",
        )
    if stage or version in ("latest", "greatest"):
        if art.deprecated:
            when = art.events[-1].created_at.isoformat()
            raise RefError(
                f"{name} is deprecated (since {when}); {ref} names nothing",
                hint=f"refer to a version ({name}@vX.Y.Z) or a commit to use it anyway",
            )
    if stage:
        held = art.holder(stage)
        if held is None:
            raise RefError(_no_holder(art, stage), hint=_stages_hint(art))
        v, assignment = held
        return _at_commit(
            project,
            git,
            ref,
            "stage",
            name,
            v.commit,
            version=v.version,
            stage=stage,
            tag=assignment.tag,
        )
    found: VersionState | None
    if version in ("latest", "greatest"):
        found = art.latest()
        if found is None:
            raise RefError(f"{name} has no active registered version")
        kind = "latest"
    else:
        found = art.version(version)
        if found is None or not found.registered:
            known = ", ".join(x.version for x in art.active_versions()) or "none"
            raise RefError(f"{name} has no version {version}", hint=f"active versions: {known}")
        if found.deregistered:
            raise RefError(f"{name}@{version} was deregistered", hint=_stages_hint(art))
        kind = "version"
    reg = found.registration
    return _at_commit(
        project,
        git,
        ref,
        kind,
        name,
        found.commit,
        version=found.version,
        tag=reg.tag if reg else None,
        deprecated=art.deprecated,
    )


def _no_holder(art: ArtifactState, stage: str) -> str:
    past = [e for e in art.events if e.stage == stage]
    if not past:
        return f"no version of {art.name} was ever assigned to stage {stage!r}"
    last = past[-1]
    return (
        f"no version of {art.name} is in stage {stage!r} "
        f"(last change: {last.kind} of {last.version} on {last.created_at:%Y-%m-%d %H:%M})"
    )


def _stages_hint(art: ArtifactState) -> str:
    held = art.holders()
    if not held:
        return f"{art.name} holds no stage now; see `mlx history {art.name}`"
    now = ", ".join(f"{s}: {v.version}" for s, (v, _) in sorted(held.items()))
    return f"current stages of {art.name}: {now}"


def _at_commit(
    project: ProjectConfig,
    git: Git,
    ref: str,
    kind: str,
    name: str,
    commit: str,
    *,
    version: str | None = None,
    stage: str | None = None,
    tag: str | None = None,
    deprecated: bool = False,
) -> ResolvedModel:
    return ResolvedModel(
        ref,
        kind,
        name,
        commit=commit,
        version=version,
        stage=stage,
        tag=tag,
        model_path=model_path(project, git, name, commit),
        deprecated=deprecated,
    )


def _from_folder(project: ProjectConfig, ref: str, folder: Path) -> ResolvedModel:
    name = project.config.model.name
    if folder != project.model_dir.resolve() and (folder / METADATA).is_file():
        from mlx.metadata import load_metadata

        try:
            name = load_metadata(folder).name
        except MlxError:
            pass  # not a model folder mlx can read: the config's model name stands
    return ResolvedModel(ref, "path", name, folder=folder)


def registered_version_of(
    project: ProjectConfig, name: str, onnx_file: str, md5: str, limit: int = 50
) -> ResolvedModel | None:
    """The newest active registered version of ``name`` whose ONNX file has ``md5``.

    The working-tree model is often exactly a registered version (HEAD is tagged, or the
    tree was checked out at one); naming it ``churn@v0.0.1`` beats an anonymous md5.
    Reads one ``.dvc`` pointer per version (newest ``limit`` versions), no DVC calls.
    """
    from mlx.adapters import dvc

    git = Git.discover(project.root)
    art = Registry.load(git).artifact(name)
    if art is None:
        return None
    for state in art.active_versions()[:limit]:
        commit = state.registration.commit if state.registration else None
        if commit is None:
            continue
        folder = model_path(project, git, name, commit)
        text = git.show(commit, f"{folder}/{onnx_file}.dvc")
        if text is None:
            continue
        try:
            pointer = dvc.parse_pointer(text, Path(folder) / f"{onnx_file}.dvc")
        except MlxError:
            continue
        if pointer.md5 == md5:
            return ResolvedModel(
                None,
                "workspace",
                name,
                commit=commit,
                version=state.version,
                folder=project.model_dir,
                model_path=folder,
            )
    return None


def model_path(project: ProjectConfig, git: Git, name: str, commit: str) -> str:
    """The model folder of artifact ``name`` at ``commit``, relative to the git root.

    The configured model lives in ``model.path``; another artifact is found through the
    ``artifacts:`` section of ``dvc.yaml`` at that commit (its ``path`` is the ONNX file),
    else ``models/<name>``.
    """
    project_rel = PurePosixPath(git.relative(project.root).as_posix())
    if name == project.config.model.name:
        return _join(project_rel, project.config.model.folder)
    text = git.show(commit, _join(project_rel, "dvc.yaml"))
    if text:
        try:
            doc = yamlsafe.safe_load(text) or {}
            path = ((doc.get("artifacts") or {}).get(name) or {}).get("path")
        except yaml.YAMLError:
            path = None
        if path:
            return _join(project_rel, str(PurePosixPath(path).parent))
    return _join(project_rel, f"models/{name}")


def _join(base: PurePosixPath, rel: str) -> str:
    joined = (base / rel).as_posix()
    return joined[2:] if joined.startswith("./") else joined

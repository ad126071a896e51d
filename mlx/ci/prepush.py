"""What the pre-push hook checks: registry tags only leave with their model files.

git gives a pre-push hook one line per ref it is about to update:
``<local ref> <local sha> <remote ref> <remote sha>``. For each registry tag among them
(GTO's ``NAME@vX.Y.Z`` registrations and ``NAME#STAGE#N`` assignments) this finds, at
the tag's commit and without checking it out, the artifact's folder (from the
``artifacts:`` section of ``dvc.yaml``), every DVC pointer in it, and the training data
named in its ``metadata.json``; then it asks the DVC remote whether it holds each md5.
A tag whose files are missing would be a registry entry nobody else can pull.
Pushes without registry tags cost one line parse each and import nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlx.adapters.git import Git
from mlx.registry import tags as T
from mlx.util import yamlsafe

ZERO = "0" * 40
# Tags that carry model files: registrations and assignments (deregistrations,
# unassignments and deprecations do not).
CARRY_FILES = (T.REGISTRATION, T.ASSIGNMENT)


@dataclass
class TagCheck:
    tag: str
    commit: str | None
    artifact: str
    files: list[dict[str, Any]] = field(default_factory=list)  # {path, md5, role, in_remote}
    note: str | None = None

    @property
    def missing(self) -> list[dict[str, Any]]:
        return [f for f in self.files if not f["in_remote"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "commit": self.commit,
            "artifact": self.artifact,
            "ok": not self.missing,
            "files": self.files,
            "note": self.note,
        }


@dataclass
class PrePushResult:
    remote: str | None  # the git remote being pushed to
    dvc_remote: str | None = None  # the DVC remote asked
    configured_remote: str | None = None  # storage.remote, when mlops.yaml names one
    head: str | None = None
    tags: list[TagCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not t.missing for t in self.tags)

    def push_hint(self) -> str | None:
        """The ``dvc push`` that would let the push through."""
        missing = [t for t in self.tags if t.missing]
        if not missing:
            return None
        paths = sorted({f["pointer"] for t in missing for f in t.missing})
        remote = f" -r {self.configured_remote}" if self.configured_remote else ""
        hint = f"dvc push{remote} {' '.join(paths)}"
        elsewhere = sorted({t.commit[:10] for t in missing if t.commit and t.commit != self.head})
        if elsewhere:
            hint += f"  (from a checkout of {', '.join(elsewhere)})"
        return hint

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hook": "pre-push",
            "remote": self.remote,
            "dvc_remote": self.dvc_remote,
            "tags": [t.to_dict() for t in self.tags],
            "push": self.push_hint(),
        }


def registry_tags(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(tag, local sha) for each registry tag being created or moved by the push."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, remote_ref, remote_sha = parts
        if local_sha == ZERO or local_sha == remote_sha:
            continue  # a deletion, or already there
        if not remote_ref.startswith("refs/tags/"):
            continue
        tag = remote_ref[len("refs/tags/") :]
        parsed = T.parse_tag(tag)
        if parsed is not None and parsed.action in CARRY_FILES:
            out.append((tag, local_sha))
    return out


def pre_push(
    lines: Iterable[str], remote: str | None = None, config: Path | str | None = None
) -> PrePushResult:
    result = PrePushResult(remote)
    tags = registry_tags(lines)
    if not tags:
        return result
    project_root, dvc_remote = _project(config)
    git = Git.discover(project_root)
    result.dvc_remote = result.configured_remote = dvc_remote
    result.head = git.head()
    for tag, sha in tags:
        project_dir = PurePosixPath(git.relative(project_root.resolve()).as_posix())
        result.tags.append(_files_for(git, tag, sha, project_dir))
    md5s = sorted({f["md5"] for t in result.tags for f in t.files})
    if md5s:
        from mlx.adapters import dvc

        absent = set(dvc.missing_in_remote(project_root, md5s, remote=dvc_remote))
        result.dvc_remote = dvc_remote or dvc.default_remote(project_root)
        for t in result.tags:
            for f in t.files:
                f["in_remote"] = f["md5"] not in absent
    return result


def _project(config: Path | str | None) -> tuple[Path, str | None]:
    """The project folder and its configured DVC remote (if the config loads at all:
    a push must not fail because the work tree's mlops.yaml is mid-edit)."""
    from mlx.config import load_project
    from mlx.errors import ConfigError

    try:
        project = load_project(config)
    except ConfigError:
        path = Path(config) if config is not None else Path.cwd()
        return (path.parent if path.suffix else path).resolve(), None
    return project.root, project.config.storage.remote


def _files_for(git: Git, tag: str, sha: str, project_dir: PurePosixPath) -> TagCheck:
    """The files a tag's model needs. ``dir=name`` tags name their folder (GTO); plain
    names are looked up in the project's folder, then at the repository root."""
    parsed = T.parse_tag(tag)
    assert parsed is not None
    folder, _, name = parsed.name.rpartition(":")
    check = TagCheck(tag, git.resolve_commit(sha), parsed.name)
    if check.commit is None:
        check.note = "the tag does not point at a commit"
        return check
    bases = (
        [PurePosixPath(folder)] if folder else list(dict.fromkeys([project_dir, PurePosixPath()]))
    )
    for base in bases:
        artifact_path = _artifact_path(git, check.commit, base, name)
        if artifact_path is not None:
            break
    else:
        where = " or ".join(str(b / "dvc.yaml") for b in bases)
        check.note = f"{name} is not declared under artifacts: in {where}; not checked"
        return check
    model_dir = _model_dir(git, check.commit, base, artifact_path)
    for pointer in _pointers_in(git, check.commit, model_dir):
        check.files.append(_file(git, check.commit, pointer, "model"))
    data = _training_data(git, check.commit, base, model_dir)
    if data is not None:
        check.files.append(data)
    return check


def _artifact_path(git: Git, commit: str, base: PurePosixPath, name: str) -> str | None:
    raw = git.show(commit, base / "dvc.yaml")
    if raw is None:
        return None
    try:
        doc = yamlsafe.safe_load(raw) or {}
    except yamlsafe.yaml.YAMLError:
        return None  # an unreadable dvc.yaml names no artifact path; the default applies
    entry = ((doc.get("artifacts") or {}).get(name) or {}) if isinstance(doc, dict) else {}
    path = entry.get("path") if isinstance(entry, dict) else None
    return path if isinstance(path, str) else None


def _model_dir(git: Git, commit: str, base: PurePosixPath, path: str) -> PurePosixPath:
    """The artifact's folder. DVC reads ``path`` relative to the ``dvc.yaml`` holding it;
    a path relative to the repository root is accepted too (whichever has a pointer)."""
    for candidate in (base / path, PurePosixPath(path)):
        if git.show(commit, f"{candidate}.dvc") is not None:
            return candidate.parent
    return (base / path).parent


def _pointers_in(git: Git, commit: str, folder: PurePosixPath) -> list[PurePosixPath]:
    listing = git.run("ls-tree", "-r", "--name-only", commit, "--", f"{folder}/")
    return [PurePosixPath(p) for p in listing.splitlines() if p.endswith(".dvc")]


def _file(git: Git, commit: str, pointer: PurePosixPath, role: str) -> dict[str, Any]:
    from mlx.adapters.dvc import parse_pointer

    raw = git.show(commit, pointer)
    ptr = parse_pointer(raw or b"", Path(pointer))
    return {
        "path": ptr.path.as_posix(),
        "pointer": pointer.as_posix(),
        "md5": ptr.md5,
        "role": role,
        "in_remote": True,
    }


def _training_data(
    git: Git, commit: str, base: PurePosixPath, model_dir: PurePosixPath
) -> dict[str, Any] | None:
    """The DVC-tracked training data the model's metadata.json names, if any."""
    import json

    raw = git.show(commit, model_dir / "metadata.json")
    if raw is None:
        return None
    data_path = (json.loads(raw).get("data") or {}).get("path")
    if not data_path:
        return None
    for pointer in (base / (data_path + ".dvc"), PurePosixPath(data_path + ".dvc")):
        if git.show(commit, pointer) is not None:  # relative to the project, or the repo
            return _file(git, commit, pointer, "training data")
    return None

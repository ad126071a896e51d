"""What a remote runner ships: the Git-tracked files at HEAD, and where the data comes from.

Policy (docs/runners.md): a tree with uncommitted changes to tracked files is refused.
The model's lineage records a commit, so the commit must be exactly what ran; shipping a
diff would make lineage lie or need a second mechanism. Untracked files are never
shipped. The bundle is ``git archive HEAD`` keyed by the tree hash, so any commit with
the same files reuses the bundle the host already has.

Data does not travel with the bundle: the host runs ``dvc pull`` for the committed
pointers, or (``--ship-data``) the client sends its copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import UsageError


@dataclass(frozen=True)
class Bundle:
    commit: str
    tree: str
    branch: str | None
    prefix: str  # the project folder relative to the git root ("" at the root), posix

    def to_dict(self) -> dict[str, str | None]:
        return {"commit": self.commit, "tree": self.tree, "branch": self.branch}


@dataclass(frozen=True)
class DataInput:
    key: str  # "data" or "test" (the job's names)
    local: Path  # the file on this machine
    rel: str  # relative to the project folder, posix
    md5: str  # what the host's copy must hash to
    pointer: str | None  # the .dvc file relative to the project folder (None when shipped)


def committed_state(project: ProjectConfig, git: Git, extra_files: Sequence[Path] = ()) -> Bundle:
    """The commit to ship; refuses a dirty tree and uncommitted config/schema files."""
    head = git.head()
    if head is None:
        raise UsageError("the repository has no commits yet; remote runners ship a commit")
    # dvc.yaml/dvc.lock never reach the stage (the job carries the config and inputs),
    # and mlx itself edits them (artifacts, stages): they do not make a run unreproducible
    dirty = [f for f in git.dirty_files() if Path(f).name not in ("dvc.yaml", "dvc.lock")]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UsageError(
            f"uncommitted changes to tracked files ({shown}); remote runners run the "
            "committed state only, so the model's lineage names exactly what ran",
            hint="commit them (or `git stash`), then rerun",
        )
    needed = [project.path] + [Path(p) for p in extra_files]
    if project.config.data.schema_file:
        needed.append(project.resolve(project.config.data.schema_file))
    for path in needed:
        if not git.is_tracked(path):
            raise UsageError(
                f"{git.relative(path)} is not committed; the host would not have it",
                hint=f"git add {git.relative(path)} && git commit",
            )
    prefix = git.relative(project.root).as_posix()
    return Bundle(head, git.tree("HEAD"), git.branch(), "" if prefix == "." else prefix)


def data_inputs(
    project: ProjectConfig, git: Git, paths: dict[str, Path | None], ship: bool
) -> list[DataInput]:
    """The data files a remote stage reads, checked against their committed pointers."""
    out = []
    for key, path in paths.items():
        if path is None:
            continue
        dvc.require_data(path)
        rel = path.resolve().relative_to(project.root.resolve()).as_posix()
        md5 = dvc.file_md5(path)
        if ship:
            out.append(DataInput(key, path, rel, md5, None))
            continue
        pointer = dvc.read_pointer(path)
        if pointer is None or not git.is_tracked(pointer.pointer):
            raise UsageError(
                f"{rel} has no committed DVC pointer, so the host cannot `dvc pull` it",
                hint=f"`dvc add {rel}`, commit the .dvc file and `dvc push`; or pass --ship-data",
            )
        if pointer.md5 != md5:
            raise UsageError(
                f"{rel} differs from its committed DVC pointer; the host would get the "
                "committed version, not this one",
                hint=f"`dvc checkout {rel}` to train on the committed data, or `dvc add` and "
                "commit the new version (or pass --ship-data)",
            )
        out.append(DataInput(key, path, rel, md5, f"{rel}{dvc.POINTER_SUFFIX}"))
    return out


def write_archive(git: Git, bundle: Bundle, dest: Path) -> Path:
    git.archive(bundle.commit, dest)
    return dest

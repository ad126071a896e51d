"""Give a resolved model reference a local folder with verified bytes.

``open_model(project, resolved)`` is what ``mlx serve``, ``mlx eval`` (the baseline) and
``mlx monitor`` call after :func:`mlx.registry.refs.resolve`:

- work tree / folder references: the folder itself; ``model.onnx`` is checked against
  its ``.dvc`` pointer when there is one;
- commit-based references (stage, version, tag, commit): ``metadata.json`` and the
  pointer are read from that commit with ``git show``; the bytes come from the DVC cache,
  or are fetched from the DVC remote for that commit; they are md5-verified and linked
  into ``.mlx/models/<name>/<version>/`` (git-ignored), which later calls reuse.

A hash mismatch is an :class:`~mlx.errors.IntegrityError` (exit 3); bytes that are in
neither the cache nor the remote are :class:`~mlx.errors.DataNotAvailable` (exit 3).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import DataNotAvailable, IntegrityError, RefError
from mlx.metadata import ModelMetadata, load_metadata, parse_metadata
from mlx.model_files import METADATA, NATIVE, ONNX
from mlx.registry.refs import ResolvedModel
from mlx.util.atomic import atomic_dir


@dataclass
class LocalModel:
    """A model version on local disk: ``folder/model.onnx`` plus its parsed metadata."""

    resolved: ResolvedModel
    folder: Path
    onnx_path: Path
    md5: str | None  # md5 of model.onnx (verified), None for an untracked work-tree file
    metadata: ModelMetadata | None
    native_path: Path | None = None  # model.lgb.txt, when asked for and available

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.resolved.to_dict(),
            "local_folder": str(self.folder),
            "onnx_path": str(self.onnx_path),
            "md5": self.md5,
            "native_path": str(self.native_path) if self.native_path else None,
        }


def open_ref(
    project: ProjectConfig, ref: str | None, *, native: bool = False, onnx: bool = True
) -> LocalModel:
    """The one way from a model reference to a verified local model: ``ref`` is anything
    :func:`mlx.registry.refs.resolve` takes (None: the working-tree model; a folder;
    ``NAME#STAGE``, ``NAME@vX.Y.Z``, a tag, a commit)."""
    from mlx.registry.refs import resolve

    return open_model(project, resolve(project, ref), native=native, onnx=onnx)


def open_model(
    project: ProjectConfig | None,
    resolved: ResolvedModel,
    *,
    native: bool = False,
    onnx: bool = True,
    verb: str = "use",
) -> LocalModel:
    """A local, verified copy of the model ``resolved`` names (see the module docstring).

    ``native=True`` also provides ``model.lgb.txt`` (LightGBM's own model);
    ``onnx=False`` accepts a folder without the ONNX file (monitoring needs only the
    metadata's reference profile). ``project`` may be None for a folder reference.
    ``verb`` names the use in an integrity error ("refusing to serve it").
    """
    if resolved.commit is None:
        assert resolved.folder is not None
        root = project.root if project is not None else resolved.folder
        return _open_folder(resolved, root, native, onnx, verb)
    assert project is not None, "commit-based references need a project"
    return _open_commit(project, resolved, native)


def open_folder(folder: Path, *, onnx: bool = True, verb: str = "use") -> LocalModel:
    """A model folder outside any project (``mlx serve DIR`` with no mlops.yaml, a Dask
    worker's copy, a remote host's shipped model), verified like any other. With
    ``onnx=True`` the folder must hold ``metadata.json`` recording an ONNX file, so
    ``metadata`` and ``md5`` of the result are set."""
    resolved = ResolvedModel(str(folder), "path", "", folder=folder)
    return _open_folder(resolved, folder, False, onnx, verb)


def _open_folder(
    resolved: ResolvedModel, root: Path, native: bool, onnx: bool, verb: str = "use"
) -> LocalModel:
    """The folder in place. ``model.onnx`` must match its ``.dvc`` pointer and the md5
    ``metadata.json`` records; a tracked file that is not checked out is read from the
    DVC cache (fetched from the remote when missing there)."""
    assert resolved.folder is not None
    folder = resolved.folder
    metadata = load_metadata(folder) if (folder / METADATA).is_file() else None
    if onnx and resolved.kind == "path":  # a folder named as the model: it must be one
        if metadata is None:
            load_metadata(folder)  # raises: no trained model in that folder
        assert metadata is not None
        metadata.require_onnx(str(folder / METADATA))
    onnx_path = folder / (metadata.onnx.file if metadata and metadata.onnx else ONNX)
    md5 = None
    if onnx or onnx_path.exists():
        try:
            onnx_path, md5 = _verified_local(onnx_path, metadata, root, verb)
        except IntegrityError:
            if onnx:
                raise
            md5 = None  # optional and not the recorded model: md5 None says "do not use"
    native_path = None
    if native:
        native_path = folder / NATIVE
        _checked_local(native_path)
    return LocalModel(resolved, folder, onnx_path, md5, metadata, native_path)


def _verified_local(
    path: Path, meta: ModelMetadata | None, root: Path, verb: str = "use"
) -> tuple[Path, str]:
    """The file to read (the work-tree file, or the DVC cache copy when it is not checked
    out) and its md5, checked against the ``.dvc`` pointer and ``metadata.json``."""
    pointer = dvc.read_pointer(path)
    if not path.exists() and pointer is not None:
        path = _from_cache(root, pointer)
    dvc.require_data(path)
    md5 = dvc.file_md5(path)
    if pointer is not None and md5 != pointer.md5:
        raise IntegrityError(
            f"{path} has md5 {md5}, but its DVC pointer {pointer.pointer.name} says {pointer.md5}; "
            f"refusing to {verb} it",
            hint="the file changed outside DVC: `dvc checkout` restores the tracked model",
        )
    recorded = meta.onnx.md5 if meta is not None and meta.onnx is not None else None
    if recorded and recorded != md5:
        raise IntegrityError(
            f"{path} has md5 {md5}, but metadata.json records {recorded}; refusing to {verb} it",
            hint="the model and its metadata disagree; retrain or `dvc checkout` the model",
        )
    return path, md5


def _from_cache(root: Path, pointer: dvc.Pointer) -> Path:
    """The pointer's file from the DVC cache, fetching it from the remote if needed."""
    cached = dvc.cache_file(root, pointer.md5)
    if not cached.is_file() and dvc.is_dvc_repo(root):
        try:
            dvc.fetch(root, [pointer.pointer])
        except Exception as exc:  # noqa: BLE001 - reported as "not available"
            raise DataNotAvailable(
                f"{pointer.path} is not checked out, not in the DVC cache, and fetching it "
                f"failed: {exc}",
                hint=f"`dvc pull {pointer.pointer.name}`",
            ) from None
    if not cached.is_file():
        raise DataNotAvailable(
            f"{pointer.path} is tracked by DVC but not in the work tree or the cache",
            hint=f"`dvc pull {pointer.pointer.name}`",
        )
    return cached


def _checked_local(path: Path) -> str | None:
    dvc.require_data(path)
    pointer = dvc.read_pointer(path)
    if pointer is None:
        return None
    dvc.verify(path, pointer.md5)
    return pointer.md5


def _open_commit(project: ProjectConfig, resolved: ResolvedModel, native: bool) -> LocalModel:
    git = Git.discover(project.root)
    commit, rel = resolved.commit, resolved.model_path
    assert commit is not None and rel is not None
    raw_meta = git.show(commit, f"{rel}/{METADATA}")
    origin = f"{rel}/{METADATA} at {commit[:10]}"
    metadata = parse_metadata(raw_meta, origin) if raw_meta else None
    names = [ONNX, NATIVE] if native else [ONNX]
    md5s = {n: _pointer_md5(git, commit, rel, n) for n in names}

    key = resolved.version if resolved.version else commit[:12]
    target = project.root / ".mlx" / "models" / resolved.name.replace(":", "=") / key
    if not _complete(target, md5s, metadata):
        dvc_root = project.root if dvc.is_dvc_repo(project.root) else git.root
        sources = {
            n: _cached(project, dvc_root, git, commit, rel, n, md5) for n, md5 in md5s.items()
        }
        with atomic_dir(target) as tmp:
            for n, src in sources.items():
                _link_or_copy(src, tmp / n)
            if raw_meta:
                (tmp / METADATA).write_bytes(raw_meta)  # the committed file, byte for byte
    return LocalModel(
        resolved,
        target,
        target / ONNX,
        md5s[ONNX],
        metadata,
        target / NATIVE if native else None,
    )


def _pointer_md5(git: Git, commit: str, rel: str, name: str) -> str:
    pointer = f"{rel}/{name}{dvc.POINTER_SUFFIX}"
    text = git.show(commit, pointer)
    if text is None:
        raise RefError(
            f"no {pointer} at commit {commit[:10]}: no model was committed there",
            hint="train and commit a model (`mlx train --commit`) or pick another reference",
        )
    return dvc.parse_pointer(text, Path(pointer)).md5


def _complete(folder: Path, md5s: dict[str, str], metadata: ModelMetadata | None) -> bool:
    """Whether an earlier call left exactly these bytes in ``folder``."""
    try:
        for name, md5 in md5s.items():
            if dvc.file_md5(folder / name) != md5:
                return False
    except OSError:
        return False
    return metadata is None or (folder / METADATA).is_file()


def _cached(
    project: ProjectConfig, dvc_root: Path, git: Git, commit: str, rel: str, name: str, md5: str
) -> Path:
    cached = dvc.cache_file(dvc_root, md5)
    if not cached.is_file():
        # the cache may live elsewhere (cache.dir; e.g. the work tree `mlx monitor
        # --on-drift retrain` makes shares the project's cache): fetch lands there
        cached = dvc.cache_file(dvc_root, md5, dvc.cache_dir(dvc_root))
    if not cached.is_file():
        pointer = git.root / rel / f"{name}{dvc.POINTER_SUFFIX}"
        dvc.fetch(dvc_root, [pointer], remote=project.config.storage.remote, rev=commit)
    if not cached.is_file():
        raise DataNotAvailable(
            f"{rel}/{name} (md5 {md5}) at {commit[:10]} is neither in the DVC cache nor "
            "in the DVC remote",
            hint="push it from a machine that has it: `dvc push` (or `mlx promote --push`)",
        )
    actual = dvc.file_md5(cached)
    if actual != md5:
        raise IntegrityError(
            f"DVC cache file for {rel}/{name} has md5 {actual}, expected {md5}",
            hint="the cache is corrupt; remove that file and fetch it again",
        )
    return cached


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class Baseline(BaseModel):
    """The model ``mlx eval``'s change gates compare against, as the eval stage needs it
    (here, or shipped to a runner's host inside the job)."""

    model_config = ConfigDict(extra="forbid")

    ref: str
    version: str | None = None
    commit: str | None = None
    model_dir: str  # a verified model folder (here), or its copy in the host's run folder

    def describe(self) -> dict[str, Any]:
        """What the eval results record about it."""
        return {"ref": self.ref, "version": self.version, "commit": self.commit}


def baseline_for(project: ProjectConfig, stage: str | None) -> Baseline | None:
    """The model holding ``stage`` as ``mlx eval``'s change gates want it, or None.

    None when no stage is configured or nothing holds it (never registered, unassigned,
    deprecated): change gates are then skipped, as for a first model. When a holder
    exists but its bytes cannot be had, the error propagates: silently skipping the
    comparison would let a worse model through.
    """
    if not stage:
        return None
    from mlx.registry.refs import resolve

    ref = f"{project.config.model.name}#{stage}"
    try:
        resolved = resolve(project, ref)
    except RefError:
        return None
    local = open_model(project, resolved)
    return Baseline(
        ref=ref, version=resolved.version, commit=resolved.commit, model_dir=str(local.folder)
    )

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


def open_model(
    project: ProjectConfig, resolved: ResolvedModel, *, native: bool = False
) -> LocalModel:
    """A local, verified copy of the model ``resolved`` names (see the module docstring).

    ``native=True`` also provides ``model.lgb.txt`` (LightGBM's own model).
    """
    if resolved.commit is None:
        return _open_folder(resolved, native)
    return _open_commit(project, resolved, native)


def _open_folder(resolved: ResolvedModel, native: bool) -> LocalModel:
    assert resolved.folder is not None
    folder = resolved.folder
    onnx = folder / ONNX
    md5 = _checked_local(onnx)
    metadata = load_metadata(folder) if (folder / METADATA).is_file() else None
    native_path = None
    if native:
        native_path = folder / NATIVE
        _checked_local(native_path)
    return LocalModel(resolved, folder, onnx, md5, metadata, native_path)


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


def _complete(folder: Path, md5s: dict[str, str], metadata) -> bool:
    """Whether an earlier call left exactly these bytes in ``folder``."""
    try:
        for name, md5 in md5s.items():
            if dvc.file_md5(folder / name) != md5:
                return False
    except OSError:
        return False
    return metadata is None or (folder / METADATA).is_file()


def _cached(project, dvc_root: Path, git: Git, commit: str, rel: str, name: str, md5: str) -> Path:
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


def baseline_for(project: ProjectConfig, stage: str | None) -> dict[str, Any] | None:
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
    return {
        "ref": ref,
        "version": resolved.version,
        "commit": resolved.commit,
        "model_dir": str(local.folder),
    }

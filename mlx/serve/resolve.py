"""Parent-side preparation: which model to serve, its verified bytes, the settings.

Runs in the ``mlx serve`` process before any worker starts; it may use git and DVC
(through :mod:`mlx.adapters`) to resolve a reference and fetch the file. Workers only
get the resulting :class:`~mlx.serve.spec.ModelSpec`.

References: a model folder (checked here against its ``.dvc`` pointer and
``metadata.json``, read from the DVC cache when not checked out), nothing (the working-tree
model of ``mlops.yaml``), or anything the registry's resolver takes (``churn#prod``,
``churn@v1.2.0``, a tag, a commit), materialised and verified by ``open_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.errors import DataNotAvailable, IntegrityError, RefError
from mlx.model_files import METADATA, load_metadata
from mlx.serve.spec import ModelSpec


def resolve_model(project, ref: str | None) -> ModelSpec:
    """A verified :class:`ModelSpec` for ``ref`` (exit 2 if it does not resolve, 3 if the
    bytes are missing or do not match their recorded md5)."""
    folder = _local_folder(project, ref)
    if folder is None:  # a registry reference (churn#prod, churn@v1.2.0, a commit, ...)
        registry = _registry()
        if registry is None or project is None:
            hint = "give a model folder holding metadata.json"
            if registry is None:
                hint += "; registry references such as churn#prod need mlx.registry"
            elif project is None:
                hint += ", or run inside an mlx project"
            raise RefError(f"cannot resolve model reference {ref!r}", hint=hint)
        return _via_registry(project, ref, *registry)
    meta = load_metadata(folder)
    onnx = folder / meta["onnx"]["file"]
    root = project.root if project is not None else folder
    onnx, md5 = _verified(onnx, meta, root)
    commit = (meta.get("code") or {}).get("commit") or ""
    version = f"md5-{md5[:8]}"
    registered = _registered(project, meta, md5) if ref is None else None
    if registered is not None:  # the working-tree model is a registered version: say which
        version, commit = registered.version or version, registered.commit or commit
    return ModelSpec.from_metadata(meta, onnx, md5, version, commit, ref or str(folder))


def _registered(project, meta: dict[str, Any], md5: str):
    """The registered version the working-tree model is, or None (no git, no match)."""
    if project is None:
        return None
    from mlx.errors import MlxError
    from mlx.registry.refs import registered_version_of

    try:
        return registered_version_of(project, meta["name"], meta["onnx"]["file"], md5)
    except MlxError:  # not a git repository, unreadable tags: the md5 names it then
        return None


def _registry():
    try:
        from mlx.registry.materialize import open_model
        from mlx.registry.refs import resolve
    except ImportError:
        return None
    return resolve, open_model


def _via_registry(project, ref: str | None, resolve, open_model) -> ModelSpec:
    resolved = resolve(project, ref)
    local = open_model(project, resolved)
    meta = local.metadata or load_metadata(Path(local.folder))
    onnx = Path(local.onnx_path)
    md5 = _check_metadata_md5(onnx, meta, local.md5)
    version = resolved.version or f"md5-{md5[:8]}"
    commit = resolved.commit or (meta.get("code") or {}).get("commit") or ""
    label = getattr(resolved, "label", None) or ref or ""
    return ModelSpec.from_metadata(meta, onnx, md5, version, commit, ref or str(label))


def _local_folder(project, ref: str | None) -> Path | None:
    """The model folder ``ref`` names (no ref: the config's), or None for other refs."""
    if ref is None:
        if project is None:
            raise RefError(
                "no model given and no mlops.yaml found", hint="`mlx serve MODEL_FOLDER`"
            )
        return project.model_dir
    candidates = [Path(ref).expanduser()]
    if project is not None and not candidates[0].is_absolute():
        candidates.append(project.resolve(ref))
    for folder in candidates:
        if (folder / METADATA).is_file():
            return folder.resolve()
    return None


def _verified(onnx: Path, meta: dict[str, Any], root: Path) -> tuple[Path, str]:
    """The file to load (the work-tree file, or the DVC cache copy when it is not checked
    out) and its md5, checked against the ``.dvc`` pointer and ``metadata.json``."""
    pointer = dvc.read_pointer(onnx)
    if not onnx.exists() and pointer is not None:
        onnx = _from_cache(root, pointer)
    dvc.require_data(onnx)
    md5 = dvc.file_md5(onnx)
    if pointer is not None and md5 != pointer.md5:
        raise IntegrityError(
            f"{onnx} has md5 {md5}, but its DVC pointer {pointer.pointer.name} says {pointer.md5}; "
            "refusing to serve it",
            hint="the file changed outside DVC: `dvc checkout` restores the tracked model",
        )
    return onnx, _check_metadata_md5(onnx, meta, md5)


def _check_metadata_md5(onnx: Path, meta: dict[str, Any], md5: str | None) -> str:
    actual = md5 or dvc.file_md5(onnx)
    recorded = (meta.get("onnx") or {}).get("md5")
    if recorded and recorded != actual:
        raise IntegrityError(
            f"{onnx} has md5 {actual}, but metadata.json records {recorded}; refusing to serve it",
            hint="the model and its metadata disagree; retrain or `dvc checkout` the model",
        )
    return actual


def _from_cache(root: Path, pointer) -> Path:
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

"""Parent-side preparation: which model to serve, its verified bytes, the settings.

Runs in the ``mlx serve`` process before any worker starts; it may use git and DVC
(through :mod:`mlx.adapters`) to resolve a reference and fetch the file. Workers only
get the resulting :class:`~mlx.serve.spec.ModelSpec`.

References: anything the registry's resolver takes (nothing: the working-tree model of
``mlops.yaml``; a model folder; ``churn#prod``, ``churn@v1.2.0``, a tag, a commit),
materialised and verified by the one loader, :func:`mlx.registry.materialize.open_model`
(a folder is checked against its ``.dvc`` pointer and ``metadata.json`` and read from
the DVC cache when not checked out). Without an ``mlops.yaml`` only a folder works.
"""

from __future__ import annotations

from pathlib import Path

from mlx.errors import RefError
from mlx.metadata import ModelMetadata
from mlx.model_files import METADATA
from mlx.serve.spec import ModelSpec


def resolve_model(project, ref: str | None) -> ModelSpec:
    """A verified :class:`ModelSpec` for ``ref`` (exit 2 if it does not resolve, 3 if the
    bytes are missing or do not match their recorded md5), through the registry's one
    loader (:func:`mlx.registry.materialize.open_model`)."""
    from mlx.registry.materialize import open_folder, open_model
    from mlx.registry.refs import resolve

    if project is None:
        folder = _folder_without_project(ref)
        local = open_folder(folder, verb="serve")
        version, commit = None, None
    else:
        resolved = resolve(project, ref)
        local = open_model(project, resolved, verb="serve")
        version, commit = resolved.version, resolved.commit
    meta = _metadata(local)
    assert local.md5 is not None  # open_model verified the ONNX file
    md5 = local.md5
    commit = commit or meta.code.commit or ""
    if version is None and ref is None:  # the working-tree model may be a registered version
        registered = _registered(project, meta, md5)
        if registered is not None:
            version, commit = registered.version, registered.commit or commit
    label = ref or str(local.folder)
    return ModelSpec.from_metadata(
        meta, local.onnx_path, md5, version or f"md5-{md5[:8]}", commit, label
    )


def _folder_without_project(ref: str | None) -> Path:
    if ref is None:
        raise RefError("no model given and no mlops.yaml found", hint="`mlx serve MODEL_FOLDER`")
    folder = Path(ref).expanduser()
    if not (folder / METADATA).is_file():
        raise RefError(
            f"cannot resolve model reference {ref!r}",
            hint="give a model folder holding metadata.json, or run inside an mlx project",
        )
    return folder.resolve()


def _metadata(local) -> ModelMetadata:
    if local.metadata is None:
        raise RefError(f"{local.folder} has no {METADATA}", hint="train a model first")
    local.metadata.require_onnx(str(local.folder / METADATA))
    return local.metadata


def _registered(project, meta: ModelMetadata, md5: str):
    """The registered version the working-tree model is, or None (no git, no match)."""
    if project is None:
        return None
    from mlx.errors import MlxError
    from mlx.registry.refs import registered_version_of

    try:
        return registered_version_of(project, meta.name, meta.require_onnx().file, md5)
    except MlxError:  # not a git repository, unreadable tags: the md5 names it then
        return None

"""``train`` and ``eval`` as DVC stages in ``dvc.yaml``, derived from ``mlops.yaml``.

With them, DVC's own tools work on an mlx project unchanged: ``dvc repro`` skips an
unchanged train, ``dvc exp run -S model.params.num_leaves=63`` trains and evaluates a
variant, ``dvc exp show/diff/apply/branch`` and ``dvc queue`` see mlx's metrics.

The model binaries stay tracked by their ``.dvc`` pointers (the registry, ``gto`` and
``mlx serve`` read them; DVC refuses a path that is both a stage output and
``dvc add``-ed), so the train stage's output is ``metadata.json`` (git-tracked,
``cache: false``), which changes whenever the model does; ``mlx train`` run by DVC
updates the pointers as it always does, and DVC commits them into the experiment.

The stages are *derived*: every command that reads the config calls :func:`sync`, which
rewrites them when the data paths, the model folder or the params file changed, so
``dvc repro`` never runs a stale stage. A ``dvc.yaml`` without mlx stages is left alone
(``mlx init`` declares them; see docs/experiments.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.config.loader import PARAMS_FILE_KEYS
from mlx.config.model import ProjectConfig
from mlx.model_files import EVAL_PLOTS, EVAL_SCORES, METADATA
from mlx.util import yamlsafe

STAGES = ("train", "eval")


def stage_spec(project: ProjectConfig) -> dict[str, dict[str, Any]]:
    """The ``train`` and ``eval`` stages this config implies (paths relative to root)."""
    cfg = project.config
    rel = project.relative
    config_file = rel(project.path)
    cli_config = "" if config_file == "mlops.yaml" else f" --config {config_file}"
    data = [rel(project.resolve(cfg.data.train))]
    if cfg.data.test:
        data.append(rel(project.resolve(cfg.data.test)))
    inputs = [*data, config_file]
    if cfg.data.schema_file:
        inputs.append(rel(project.resolve(cfg.data.schema_file)))
    model = rel(project.model_dir)
    train: dict[str, Any] = {"cmd": f"mlx train{cli_config}", "deps": inputs}
    params = _params(project)
    if params:
        train["params"] = params
    train["outs"] = [{f"{model}/{METADATA}": {"cache": False}}]
    evaluate = {
        "cmd": f"mlx eval{cli_config}",
        "deps": [f"{model}/{METADATA}", f"{model}/model.onnx", *inputs],
        "metrics": [{f"{model}/{EVAL_SCORES}": {"cache": False}}],
        "plots": [{f"{model}/{EVAL_PLOTS}": {"cache": False}}],
    }
    return {"train": train, "eval": evaluate}


def _params(project: ProjectConfig) -> list[Any]:
    """The model-changing keys, where they live: the params file (DVC's ``-S`` edits
    it) or, without one, ``mlops.yaml`` itself (only keys present: DVC refuses a
    declared param that is missing from the file)."""
    cfg = project.config
    path = project.resolve(cfg.params_file) if cfg.params_file else project.path
    doc = _load(path)
    keys = [k for k in PARAMS_FILE_KEYS if _has(doc, k)]
    return [{project.relative(path): keys}] if keys else []


def _load(path: Path) -> Any:
    try:
        return yamlsafe.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yamlsafe.yaml.YAMLError):  # the config loader reports those
        return {}


def _has(doc: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def declared(project: ProjectConfig) -> bool:
    """Whether ``dvc.yaml`` has mlx's stages (a ``train`` stage running ``mlx train``)."""
    current = dvc.stages(project.root)
    stage = current.get("train")
    return isinstance(stage, dict) and str(stage.get("cmd", "")).startswith("mlx train")


def sync(project: ProjectConfig, create: bool = False) -> str | None:
    """Bring the mlx stages in ``dvc.yaml`` in line with the config; a note when changed.

    Only mlx's own ``train``/``eval`` stages are written; other stages are kept."""
    if project.overrides or not (create or declared(project)):
        return None  # a --set run changes this run only, never dvc.yaml
    wanted = stage_spec(project)
    if not dvc.set_stages(project.root, wanted):
        return None
    if create:
        return "declared the train and eval stages in dvc.yaml (dvc repro, dvc exp run)"
    return "dvc.yaml: the train and eval stages now follow mlops.yaml (paths, model, params)"

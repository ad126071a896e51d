"""``mlx validate`` and ``mlx eval`` over ssh, with the same bundle mechanism as train.

validate runs ``python -m mlx validate --json`` in the bundle after ``dvc pull`` of the
data there, and returns the host's report. eval ships the committed model (its
``model.onnx`` checked against the committed metadata) into the run folder, pulls the
data, runs ``python -m mlx.evaluate.stage`` (the function a local eval runs) and brings
back every result file, md5-checked; declaring them in ``dvc.yaml`` and committing
happen here. The host has no git and so no registry: the baseline model for change
gates is resolved here and shipped beside the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import IntegrityError, StageFailed, UsageError
from mlx.metadata import load_metadata
from mlx.model_files import METADATA, ONNX
from mlx.runners import Log
from mlx.runners.bundle import committed_state, data_inputs
from mlx.runners.ssh import SshRunner, job_config, remote_error, run_sync
from mlx.runners.ssh_host import Host
from mlx.runners.ssh_session import SshSession, q


def validate(
    runner: SshRunner, project: ProjectConfig, data_path: Path, log: Log | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the host's validation report, the runner description) for ``data_path``."""
    git = Git.discover(project.root)
    bundle = committed_state(project, git)
    inputs = data_inputs(project, git, {"data": data_path}, ship=False)

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with await SshSession.open(runner.spec) as session:
            host = Host(session, runner.spec, log)
            python, project_dir = await runner.prepare(host, git, bundle, project)
            run = await host.new_run()
            try:
                await host.pull(
                    python.path, project_dir, [i.pointer for i in inputs if i.pointer], run
                )
                args = ["mlx", "validate", "--json", "--config", project.path.name]
                done = await host.run_module(
                    python.path, project_dir, run, [*args, "--data", inputs[0].rel], on_stderr=log
                )
            finally:
                await host.remove(run)
            doc = _json_doc(done, host.s.label, "mlx validate")
            if "error" in doc:
                raise remote_error(doc["error"], host.s.label)
            report = doc["data"]
            report["path"] = f"{host.s.label}:{inputs[0].rel}"
            return report, runner.describe(python) | {"bundle": bundle.tree}

    return run_sync(go)


def evaluate(
    runner: SshRunner,
    project: ProjectConfig,
    model_dir: Path,
    out: Path,
    log: Log | None = None,
    baseline: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Evaluate the committed model on the host; writes its result files into ``out``.

    ``baseline`` (resolved here from the registry: ``{ref, version, commit, model_dir}``)
    is shipped with the model and scored on the same rows there.
    Returns (metrics document, DVC plot definitions, runner description)."""
    git = Git.discover(project.root)
    meta = load_metadata(model_dir)
    pointer = model_dir / f"{ONNX}{dvc.POINTER_SUFFIX}"
    bundle = committed_state(project, git, [model_dir / METADATA, pointer])
    data = meta.data
    if data is None:
        raise UsageError(f"{model_dir / METADATA} records no training data (key 'data')")
    paths: dict[str, Path | None] = {"data": project.resolve(data.path)}
    if data.test_path:
        paths["test"] = project.resolve(data.test_path)
    inputs = data_inputs(project, git, paths, ship=False)

    async def go() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with await SshSession.open(runner.spec) as session:
            host = Host(session, runner.spec, log)
            python, project_dir = await runner.prepare(host, git, bundle, project)
            run = await host.new_run()
            try:
                await host.pull(
                    python.path, project_dir, [i.pointer for i in inputs if i.pointer], run
                )
                await _ship_model(host, model_dir, f"{run}/model")
                remote_base = None
                if baseline is not None:
                    await _ship_model(host, Path(baseline["model_dir"]), f"{run}/baseline")
                    remote_base = baseline | {"model_dir": f"{run}/baseline"}
                job = {
                    "config": job_config(project),
                    "model_dir": f"{run}/model",
                    "out_dir": f"{run}/out",
                    "head": bundle.commit,
                    "baseline": remote_base,
                    "error_file": f"{run}/error.json",
                    "manifest": f"{run}/manifest.json",
                }
                await host.s.write_text(f"{run}/job.json", json.dumps(job))
                done = await host.run_module(
                    python.path,
                    project_dir,
                    run,
                    ["mlx.evaluate.stage", f"{run}/job.json"],
                    on_stdout=log,
                    on_stderr=log,
                )
                if done.status != 0:
                    raise await runner._failure(host, run, done, "the eval stage")
                manifest = json.loads(await host.s.read_text(f"{run}/manifest.json") or "{}")
                for rel, md5 in manifest.get("files", {}).items():
                    local = out / rel
                    local.parent.mkdir(parents=True, exist_ok=True)
                    await host.s.get(f"{run}/out/{rel}", local)
                    if dvc.file_md5(local) != md5:
                        raise IntegrityError(f"{rel} from {host.s.label} arrived corrupt")
            finally:
                await host.remove(run)
            info = runner.describe(python) | {"bundle": bundle.tree}
            return manifest["doc"], manifest["plots"], info

    return run_sync(go)


async def _ship_model(host: Host, folder: Path, remote: str) -> None:
    """model.onnx (checked against its metadata first) and metadata.json into ``remote``."""
    from mlx.registry.materialize import open_folder

    open_folder(folder)  # verified against its pointer and metadata before it travels
    await host.s.check(f"mkdir -p {q(remote)}", "creating a model folder")
    for name in (ONNX, METADATA):
        await host.s.put(folder / name, f"{remote}/{name}")


def _json_doc(done, label: str, what: str) -> dict[str, Any]:
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise StageFailed(
            f"{what} on {label} did not answer with JSON (exit {done.status}):\n{done.tail()}"
        ) from None

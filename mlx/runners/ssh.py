"""The ssh runner: the same stages, on another host.

A run: connect (host key checked) → make sure the host has the bundle of HEAD (refusing
a dirty tree) → make sure its python can run mlx → a run folder → ``dvc pull`` of the
committed data pointers there (or ``--ship-data``) → the stage, its output streamed
here → fetch only the declared outputs, verify their md5s against the host's manifest
→ record the runner in the lineage.

- train: ``python -m mlx.train.stage job.json`` (:class:`~mlx.train.stage.TrainJobSpec`);
- validate: ``python -m mlx validate --json`` in the bundle, the host's report back;
- evaluate: the committed model (checked against its metadata) shipped into the run
  folder, ``python -m mlx.evaluate.stage job.json``
  (:class:`~mlx.evaluate.stage.EvalJobSpec`), every result file back, md5-checked. The
  host has no registry: the baseline for change gates is resolved here and shipped.

The host never sees ``.git``, so it cannot create commits or tags; everything that
touches the repository (DVC tracking, ``--commit``) happens here afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.config.runners import SshRunner as SshSpec
from mlx.errors import IntegrityError, MlxError, StageFailed, UsageError
from mlx.metadata import CodeInfo, ModelMetadata, load_metadata, write_metadata
from mlx.model_files import METADATA, NATIVE, ONNX
from mlx.runners import (
    RUNS,
    BaseRunner,
    EvalJob,
    Log,
    Progress,
    RemoteEvaluation,
    RemoteValidation,
    TrainJob,
    ValidateJob,
)
from mlx.runners.bundle import Bundle, DataInput, committed_state, data_inputs
from mlx.runners.ssh_host import Host, RemotePython, dvc_root_prefix
from mlx.runners.ssh_session import Completed, SshSession, q, remote_error, run_sync
from mlx.util.jobfile import JobSpec


@dataclass
class _Run:
    """One run on the host: the connection, its python, the bundle's project folder and
    the run folder (job.json, out/, manifest.json, error.json)."""

    host: Host
    python: RemotePython
    project_dir: str
    folder: str


def job_config(project: ProjectConfig) -> dict[str, Any]:
    """The config as the host's stage gets it: without `runners:` (whose `env` may hold
    credentials the stage has no use for)."""
    doc = project.config.model_dump(mode="json", by_alias=True)
    doc.pop("runners", None)
    doc["default_runner"] = "local"
    return doc


class SshRunner(BaseRunner):
    kind = "ssh"
    runs = RUNS["ssh"]

    def __init__(self, name: str, spec: SshSpec) -> None:
        super().__init__(name)
        self.spec = spec

    # --- train -----------------------------------------------------------------------

    def train(self, job: TrainJob, progress: Progress | None = None) -> ModelMetadata:
        project = job.project
        git = Git.discover(project.root)
        bundle = committed_state(project, git)
        inputs = data_inputs(
            project, git, {"data": job.data_path, "test": job.test_path}, job.ship_data
        )
        return run_sync(lambda: self._train(job, git, bundle, inputs, progress))

    async def _train(
        self,
        job: TrainJob,
        git: Git,
        bundle: Bundle,
        inputs: list[DataInput],
        progress: Progress | None,
    ) -> ModelMetadata:
        from mlx.train.stage import TrainJobSpec

        started = time.perf_counter()
        async with self._on_host(job.log, git, bundle, job.project) as at:
            host, python, run = at.host, at.python, at.folder
            paths = await self._stage_inputs(host, python, at.project_dir, run, inputs, job.log)
            context = job.context | {
                "code": {**bundle.to_dict(), "dirty": False},
                "runner": self.describe(python, job.ship_data) | {"run": run.rsplit("/", 1)[-1]},
            }
            spec = TrainJobSpec.model_validate(
                {
                    "config": job_config(job.project),
                    "data": paths["data"],
                    "test": paths.get("test"),
                    "out_dir": f"{run}/out",
                    "schema_text": job.schema_text,
                    "context": context,
                    "expect_md5": {i.key: i.md5 for i in inputs},
                }
            )
            await self._run_job(
                at, "mlx.train.stage", spec, "--progress",
                on_stdout=job.say, on_stderr=_progress_or_log(progress, job.say),
            )  # fmt: skip
            meta = await self._fetch_model(host, run, job.out_dir)
        meta.runner = meta.runner | {
            "stage_duration_s": meta.runner.get("duration_s"),
            "duration_s": round(time.perf_counter() - started, 3),
        }
        meta.code = CodeInfo.model_validate(
            meta.code.model_dump(exclude_unset=True) | bundle.to_dict() | {"dirty": False}
        )
        write_metadata(job.out_dir, meta)
        return meta

    # --- validate --------------------------------------------------------------------

    def validate(self, job: ValidateJob) -> RemoteValidation:
        project = job.project
        git = Git.discover(project.root)
        bundle = committed_state(project, git)
        inputs = data_inputs(project, git, {"data": job.data_path}, ship=False)

        async def go() -> RemoteValidation:
            async with self._on_host(job.log, git, bundle, project) as at:
                pointers = [i.pointer for i in inputs if i.pointer]
                await at.host.pull(at.python.path, at.project_dir, pointers, at.folder)
                args = ["mlx", "validate", "--json", "--config", project.path.name]
                done = await at.host.run_module(
                    at.python.path, at.project_dir, at.folder,
                    [*args, "--data", inputs[0].rel], on_stderr=job.log,
                )  # fmt: skip
            label = at.host.s.label
            doc = _json_doc(done, label, "mlx validate")
            if "error" in doc:
                raise remote_error(doc["error"], label)
            report = doc["data"]
            report["path"] = f"{label}:{inputs[0].rel}"
            return RemoteValidation(report, self.describe(at.python) | {"bundle": bundle.tree})

        return run_sync(go)

    # --- evaluate --------------------------------------------------------------------

    def evaluate(self, job: EvalJob) -> RemoteEvaluation:
        """Evaluate the committed model on the host; its result files land in
        ``job.out_dir``."""
        project, model_dir = job.project, job.model_dir
        git = Git.discover(project.root)
        meta = load_metadata(model_dir)
        pointer = model_dir / f"{ONNX}{dvc.POINTER_SUFFIX}"
        bundle = committed_state(project, git, [model_dir / METADATA, pointer])
        if meta.data is None:
            raise UsageError(f"{model_dir / METADATA} records no training data (key 'data')")
        paths: dict[str, Path | None] = {"data": project.resolve(meta.data.path)}
        if meta.data.test_path:
            paths["test"] = project.resolve(meta.data.test_path)
        inputs = data_inputs(project, git, paths, ship=False)

        async def go() -> RemoteEvaluation:
            from mlx.evaluate.stage import EvalJobSpec

            async with self._on_host(job.log, git, bundle, project) as at:
                host, run = at.host, at.folder
                pointers = [i.pointer for i in inputs if i.pointer]
                await host.pull(at.python.path, at.project_dir, pointers, run)
                await _ship_model(host, model_dir, f"{run}/model")
                remote_base = None
                if job.baseline is not None:
                    await _ship_model(host, Path(job.baseline.model_dir), f"{run}/baseline")
                    remote_base = job.baseline.model_copy(update={"model_dir": f"{run}/baseline"})
                spec = EvalJobSpec.model_validate(
                    {
                        "config": job_config(project),
                        "config_file": project.path.name,
                        "model_dir": f"{run}/model",
                        "out_dir": f"{run}/out",
                        "head": bundle.commit,
                        "baseline": remote_base,
                    }
                )
                await self._run_job(
                    at, "mlx.evaluate.stage", spec, on_stdout=job.log, on_stderr=job.log
                )
                manifest = json.loads(await host.s.read_text(f"{run}/manifest.json") or "{}")
                await _fetch_results(host, run, manifest.get("files", {}), job.out_dir)
            info = self.describe(at.python) | {"bundle": bundle.tree}
            return RemoteEvaluation(manifest["doc"], manifest["plots"], info)

        return run_sync(go)

    # --- what every stage shares -------------------------------------------------------

    async def prepare(
        self, host: Host, git: Git, bundle: Bundle, project: ProjectConfig
    ) -> tuple[RemotePython, str]:
        """The host ready for any stage: its Python with mlx, and the bundle's project
        folder there."""
        await host.setup()
        project_dir = await host.ensure_bundle(git, bundle, dvc_root_prefix(git, project.root))
        python = await host.ensure_python(git, bundle, project_dir)
        return python, project_dir

    async def _stage_inputs(
        self,
        host: Host,
        python: RemotePython,
        project_dir: str,
        run: str,
        inputs: list[DataInput],
        log: Log | None,
    ) -> dict[str, str]:
        """Pull the committed data on the host, or send ours; returns job paths."""
        paths: dict[str, str] = {}
        pointers = [i.pointer for i in inputs if i.pointer is not None]
        await host.pull(python.path, project_dir, pointers, run)
        for item in inputs:
            if item.pointer is not None:
                paths[item.key] = item.rel
                continue
            remote = f"{run}/data/{item.key}-{item.local.name}"
            if log is not None:
                log(f"shipping {item.rel} ({item.local.stat().st_size / 1e6:.1f} MB)")
            await host.s.put(item.local, remote)
            paths[item.key] = remote
        return paths

    def describe(self, python: RemotePython, shipped: bool = False) -> dict[str, Any]:
        info = python.info
        out = {
            "name": self.name,
            "kind": self.kind,
            "host": info.get("host"),
            "address": self.spec.host,
            "user": info.get("user"),
            "python": info.get("python"),
            "executable": info.get("executable"),
            "data": "shipped" if shipped else "dvc pull",
        }
        if python.mismatched:
            out["version_mismatch"] = python.mismatched
        return out

    @contextlib.asynccontextmanager
    async def _on_host(
        self, log: Log | None, git: Git, bundle: Bundle, project: ProjectConfig
    ) -> AsyncIterator[_Run]:
        """A connection, the host prepared for the bundle, and a run folder that is
        removed afterwards (also when the run is interrupted)."""
        async with await SshSession.open(self.spec) as session:
            host = Host(session, self.spec, log)
            python, project_dir = await self.prepare(host, git, bundle, project)
            folder = await host.new_run()
            try:
                yield _Run(host, python, project_dir, folder)
            finally:
                await asyncio.shield(host.remove(folder))

    async def _run_job(
        self,
        at: _Run,
        module: str,
        spec: JobSpec,
        *flags: str,
        on_stdout: Log | None,
        on_stderr: Log | None,
    ) -> None:
        """Write ``spec`` as the run's job file and run ``python -m module`` on it; a
        failure is re-raised as the host's error (or :class:`StageFailed`)."""
        run = at.folder
        spec = spec.model_copy(
            update={"error_file": f"{run}/error.json", "manifest": f"{run}/manifest.json"}
        )
        await at.host.s.write_text(f"{run}/job.json", spec.to_json())
        args = [module, f"{run}/job.json", *flags]
        done = await at.host.run_module(
            at.python.path, at.project_dir, run, args, on_stdout=on_stdout, on_stderr=on_stderr
        )
        if done.status != 0:
            what = "the eval stage" if module == "mlx.evaluate.stage" else "the train stage"
            raise await self._failure(at.host, run, done, what)

    async def _failure(self, host: Host, run: str, done: Completed, what: str) -> MlxError:
        text = await host.s.read_text(f"{run}/error.json")
        if text:
            try:
                return remote_error(json.loads(text), host.s.label)
            except ValueError:
                pass
        return StageFailed(
            f"{what} failed on {host.s.label} (exit {done.status}):\n{done.tail()}",
            hint="the lines above are the host's output",
        )

    async def _fetch_model(self, host: Host, run: str, out_dir: Path) -> ModelMetadata:
        """Bring back only the declared outputs and check them against the manifest."""
        text = await host.s.read_text(f"{run}/manifest.json")
        if not text:
            raise StageFailed(f"the train stage on {host.s.label} wrote no manifest")
        files = json.loads(text)["files"]
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (ONNX, NATIVE, METADATA):
            local = out_dir / name
            await host.s.get(f"{run}/out/{name}", local)
            actual = dvc.file_md5(local)
            if actual != files.get(name):
                raise IntegrityError(
                    f"{name} from {host.s.label} has md5 {actual}, the host reported "
                    f"{files.get(name)}; the transfer is corrupt",
                )
        return load_metadata(out_dir)


async def _ship_model(host: Host, folder: Path, remote: str) -> None:
    """model.onnx (checked against its metadata first) and metadata.json into ``remote``."""
    from mlx.registry.materialize import open_folder

    open_folder(folder)  # verified against its pointer and metadata before it travels
    await host.s.check(f"mkdir -p {q(remote)}", "creating a model folder")
    for name in (ONNX, METADATA):
        await host.s.put(folder / name, f"{remote}/{name}")


async def _fetch_results(host: Host, run: str, files: dict[str, str], out: Path) -> None:
    for rel, md5 in files.items():
        local = out / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        await host.s.get(f"{run}/out/{rel}", local)
        if dvc.file_md5(local) != md5:
            raise IntegrityError(f"{rel} from {host.s.label} arrived corrupt")


def _json_doc(done: Completed, label: str, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise StageFailed(
            f"{what} on {label} did not answer with JSON (exit {done.status}):\n{done.tail()}"
        )
    return doc


def _progress_or_log(progress: Progress | None, log: Log) -> Log:
    from mlx.util.jobfile import PROGRESS_PREFIX

    def handle(line: str) -> None:
        if line.startswith(PROGRESS_PREFIX):
            if progress is not None:
                done, total = line[len(PROGRESS_PREFIX) :].split()
                progress(int(done), int(total))
            return
        log(line)

    return handle

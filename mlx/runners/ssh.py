"""The ssh runner: the same stage, on another host.

A run: connect (host key checked) → make sure the host has the bundle of HEAD (refusing
a dirty tree) → make sure its python can run mlx → a run folder → ``dvc pull`` of the
committed data pointers there (or ``--ship-data``) → ``python -m mlx.train.stage
job.json`` in the bundle, its output streamed here → fetch only the declared outputs,
verify their md5s against the host's manifest → record the runner in the lineage.

The host never sees ``.git``, so it cannot create commits or tags; everything that
touches the repository (DVC tracking, ``--commit``) happens here afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.config.sections import SshRunner as SshSpec
from mlx.errors import ExitCode, IntegrityError, MlxError, StageFailed
from mlx.metadata import CodeInfo, ModelMetadata, load_metadata, write_metadata
from mlx.model_files import METADATA, NATIVE, ONNX
from mlx.runners import Log, TrainJob
from mlx.runners.bundle import Bundle, committed_state, data_inputs
from mlx.runners.ssh_host import Host, RemotePython, dvc_root_prefix
from mlx.runners.ssh_session import SshSession

T = TypeVar("T")
Progress = Callable[[int, int], None]


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code. In the main thread Ctrl-C cancels it (so remote
    clean-up runs) and then surfaces as KeyboardInterrupt; inside a running event loop
    (a notebook) it runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def remote_error(doc: dict[str, Any], where: str) -> MlxError:
    """Rebuild the error a remote mlx raised (same class and exit code when possible)."""
    import mlx.errors as errors

    message = f"{doc.get('message', 'unknown error')} (on {where})"
    cls = getattr(errors, str(doc.get("type")), None)
    err: MlxError | None = None
    if isinstance(cls, type) and issubclass(cls, MlxError):
        try:
            err = cls(message, hint=doc.get("hint"), details=doc.get("details"))
        except TypeError:  # a class with its own constructor
            err = None
    if err is None:
        err = MlxError(message, hint=doc.get("hint"), details=doc.get("details"))
    try:
        err.exit_code = ExitCode(int(doc.get("exit_code", 1)))
    except ValueError:
        err.exit_code = ExitCode.CHECK_FAILED
    return err


def job_config(project: ProjectConfig) -> dict[str, Any]:
    """The config as the host's stage gets it: without `runners:` (whose `env` may hold
    credentials the stage has no use for)."""
    doc = project.config.model_dump(mode="json", by_alias=True)
    doc.pop("runners", None)
    doc["default_runner"] = "local"
    return doc


class SshRunner:
    kind = "ssh"

    def __init__(self, name: str, spec: SshSpec) -> None:
        self.name = name
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

    async def _train(self, job, git, bundle, inputs, progress) -> ModelMetadata:
        started = time.perf_counter()
        async with await SshSession.open(self.spec) as session:
            host = Host(session, self.spec, job.log)
            python, project_dir = await self.prepare(host, git, bundle, job.project)
            run = await host.new_run()
            try:
                paths = await self._stage_inputs(host, python, project_dir, run, inputs, job.log)
                context = job.context | {
                    "code": {**bundle.to_dict(), "dirty": False},
                    "runner": self.describe(python, job.ship_data)
                    | {"run": run.rsplit("/", 1)[-1]},
                }
                spec = {
                    "config": job_config(job.project),
                    "data": paths["data"],
                    "test": paths.get("test"),
                    "out_dir": f"{run}/out",
                    "schema_text": job.schema_text,
                    "context": context,
                    "expect_md5": {i.key: i.md5 for i in inputs},
                    "error_file": f"{run}/error.json",
                    "manifest": f"{run}/manifest.json",
                }
                await host.s.write_text(f"{run}/job.json", json.dumps(spec))
                done = await host.run_module(
                    python.path,
                    project_dir,
                    run,
                    ["mlx.train.stage", f"{run}/job.json", "--progress"],
                    on_stdout=job.say,
                    on_stderr=_progress_or_log(progress, job.say),
                )
                if done.status != 0:
                    raise await self._failure(host, run, done, "the train stage")
                meta = await self._fetch_model(host, run, job.out_dir)
            finally:
                await asyncio.shield(host.remove(run))
        meta.runner = meta.runner | {
            "stage_duration_s": meta.runner.get("duration_s"),
            "duration_s": round(time.perf_counter() - started, 3),
        }
        meta.code = CodeInfo.model_validate(
            meta.code.model_dump(exclude_unset=True) | bundle.to_dict() | {"dirty": False}
        )
        write_metadata(job.out_dir, meta)
        return meta

    async def prepare(
        self, host: Host, git: Git, bundle: Bundle, project: ProjectConfig
    ) -> tuple[RemotePython, str]:
        """The host ready for any stage (train here, validate and eval in
        :mod:`mlx.runners.ssh_checks`): its Python with mlx, and the bundle's project
        folder there."""
        await host.setup()
        project_dir = await host.ensure_bundle(git, bundle, dvc_root_prefix(git, project.root))
        python = await host.ensure_python(git, bundle, project_dir)
        return python, project_dir

    async def _stage_inputs(self, host, python, project_dir, run, inputs, log) -> dict[str, str]:
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

    async def _failure(self, host: Host, run: str, done, what: str) -> MlxError:
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

"""The ssh runner's layout on a host, and the steps every remote run shares.

Under the runner's ``workdir`` (absolute, ``~`` expanded on the host)::

    bundles/<tree>/          git archive of a commit, extracted once (marker .mlx-bundle)
    runs/<run id>/           job.json, out/, manifest.json, error.json; removed after the run
    venvs/<name>/            venvs created by ``setup: requirements|project``
    dvc-cache/               DVC cache shared by all bundles (data is pulled once)

Every bundle gets a ``.dvc/config.local`` (untracked by design) with ``core.no_scm``
(the bundle has no ``.git``: the host never creates commits or tags) and the shared
cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlx.adapters.git import Git
from mlx.config.runners import SshRunner as SshSpec
from mlx.errors import RemoteCommandFailed, UsageError
from mlx.runners import Log
from mlx.runners.bundle import Bundle, write_archive
from mlx.runners.ssh_session import Completed, LineFn, SshSession, q

DVC_ENV = {"DVC_NO_ANALYTICS": "1"}


def _host_env() -> dict[str, str]:
    """The host's stage runs with this side's warning choice (quiet unless debugging)."""
    return {**DVC_ENV, "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "default")}


PROBE = """
import getpass, json, socket, sys
out = {"python": sys.version.split()[0], "executable": sys.executable,
       "host": socket.gethostname(), "user": getpass.getuser()}
try:
    from mlx.train.stage import package_versions
    out["packages"] = package_versions()
    if "mlx-mlops" not in out["packages"]:
        out["error"] = "the 'mlx' package there is not mlx-mlops"
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""
REQUIREMENTS = ("requirements.lock", "requirements.txt")  # a pinned lock first
COMPARED = ("mlx-mlops", "lightgbm", "onnx", "onnxmltools", "numpy", "pandas", "scikit-learn")


@dataclass
class RemotePython:
    path: str
    info: dict[str, Any] = field(default_factory=dict)
    mismatched: dict[str, list[str]] = field(default_factory=dict)  # package → [here, there]


class Host:
    """What the runner knows about and does on one host for one run."""

    def __init__(self, session: SshSession, spec: SshSpec, log: Log | None) -> None:
        self.s = session
        self.spec = spec
        self.log = log or (lambda line: None)
        self.home = ""
        self.workdir = ""

    async def setup(self) -> None:
        out = await self.s.check(
            'printf "%s\\n" "$HOME"; command -v setsid >/dev/null && echo setsid-ok',
            "looking around",
        )
        lines = out.splitlines()
        self.home = lines[0] if lines else ""
        if "setsid-ok" not in lines:
            raise RemoteCommandFailed(
                f"{self.s.label} has no `setsid` (util-linux); the ssh runner needs it to "
                "stop remote stages cleanly",
                hint="the ssh runner supports Linux hosts",
            )
        self.workdir = self.abspath(self.spec.workdir)
        await self.s.check(
            f"mkdir -p {q(self.workdir)}/bundles {q(self.workdir)}/runs {q(self.workdir)}/dvc-cache",
            f"creating {self.workdir}",
        )

    def abspath(self, path: str) -> str:
        """``~`` and relative paths are the host's home, not ours."""
        if path == "~" or path.startswith("~/"):
            path = self.home + path[1:]
        return path if path.startswith("/") else str(PurePosixPath(self.home) / path)

    # --- the code ----------------------------------------------------------------------

    async def ensure_bundle(self, git: Git, bundle: Bundle, dvc_root: str) -> str:
        """Upload and extract the bundle unless the host has it; returns the project dir."""
        bdir = f"{self.workdir}/bundles/{bundle.tree}"
        project_dir = f"{bdir}/{bundle.prefix}" if bundle.prefix else bdir
        present = await self.s.sh(f"test -f {q(bdir)}/.mlx-bundle")
        if present.status == 0:
            self.log(f"bundle {bundle.tree[:12]} already on {self.s.label}")
            return project_dir
        tmp = f"{self.workdir}/bundles/.{bundle.tree}.{secrets.token_hex(4)}"
        with tempfile.TemporaryDirectory(prefix="mlx-bundle-") as local:
            tar = write_archive(git, bundle, Path(local) / "bundle.tar")
            self.log(f"uploading bundle {bundle.tree[:12]} ({tar.stat().st_size / 1e6:.1f} MB)")
            try:
                await self.s.put(tar, f"{tmp}.tar")
            except BaseException:  # failed or interrupted: no half upload left behind
                await self.remove(f"{tmp}.tar")
                raise
        dvc_dir = f"{tmp}/{dvc_root}/.dvc" if dvc_root else f"{tmp}/.dvc"
        config_local = f"[core]\n    no_scm = true\n[cache]\n    dir = {self.workdir}/dvc-cache\n"
        await self.s.check(
            f"set -e; mkdir -p {q(tmp)}; tar -xf {q(tmp)}.tar -C {q(tmp)}; rm -f {q(tmp)}.tar; "
            f"if [ -d {q(dvc_dir)} ]; then printf %s {q(config_local)} > {q(dvc_dir)}/config.local; fi; "
            f"touch {q(tmp)}/.mlx-bundle; "
            f"mv -T {q(tmp)} {q(bdir)} 2>/dev/null || rm -rf {q(tmp)}",
            "unpacking the bundle",
        )
        return project_dir

    # --- the python ------------------------------------------------------------------

    async def ensure_python(self, git: Git, bundle: Bundle, project_dir: str) -> RemotePython:
        spec = self.spec
        venv = self.abspath(spec.venv) if spec.venv else None
        if spec.setup == "requirements":
            name, text = self._requirements(git, bundle)
            key = hashlib.md5(text).hexdigest()[:16]
            venv = venv or f"{self.workdir}/venvs/req-{key}"
            install = f"-r {q(project_dir)}/{q(name)}"
            await self._create_venv(venv, key, install)
        elif spec.setup == "project":
            venv = venv or f"{self.workdir}/venvs/project"
            await self._create_venv(venv, bundle.tree, q(project_dir))
        python = f"{venv}/bin/python" if venv else spec.python
        return await self.probe(python)

    @staticmethod
    def _requirements(git: Git, bundle: Bundle) -> tuple[str, bytes]:
        """The committed lock file (``requirements.lock``) or ``requirements.txt``."""
        for name in REQUIREMENTS:
            text = git.show(bundle.commit, f"{bundle.prefix}/{name}" if bundle.prefix else name)
            if text is not None:
                return name, text
        raise UsageError(
            f"setup: requirements needs a committed {' or '.join(REQUIREMENTS)} in the "
            "project folder"
        )

    async def _create_venv(self, venv: str, key: str, install: str) -> None:
        marker = f"{venv}/.mlx-ready"
        ready = await self.s.sh(f'[ "$(cat {q(marker)} 2>/dev/null)" = {q(key)} ]')
        if ready.status == 0:
            return
        self.log(f"setting up {venv} on {self.s.label}")
        pgid = f"{self.workdir}/venvs/.setup-{secrets.token_hex(4)}.pgid"
        script = (
            f"set -e; mkdir -p {q(self.workdir)}/venvs; "
            f"[ -x {q(venv)}/bin/python ] || {q(self.spec.python)} -m venv {q(venv)}; "
            f"{q(venv)}/bin/python -m pip install -q {install}; "
            f"printf %s {q(key)} > {q(marker)}; rm -f {q(pgid)}"
        )
        done = await self.s.group(script, pgid, on_stdout=self.log, on_stderr=self.log)
        if done.status != 0:
            raise RemoteCommandFailed(
                f"creating the venv {venv} on {self.s.label} failed:\n{done.tail()}",
                hint="check the host's python, network access to the package index, and "
                "that the requirements (or the project) bring in mlx-mlops",
            )

    async def probe(self, python: str) -> RemotePython:
        from mlx.train.stage import package_versions

        done = await self.s.sh(f"{q(python)} -c {q(PROBE)}")
        info: dict[str, Any] = {}
        if done.status == 0:
            try:
                info = json.loads(done.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                info = {"error": done.stdout.strip()[-500:]}
        problem = info.get("error") if info else done.tail()
        if problem:
            raise RemoteCommandFailed(
                f"{python} on {self.s.label} cannot run mlx: {problem}",
                hint="point `venv:` at a venv with mlx-mlops installed, or set `setup: "
                "requirements` / `setup: project` to create one",
            )
        result = RemotePython(python, info)
        here = package_versions()
        there = info.get("packages", {})
        for name in COMPARED:
            if here.get(name) != there.get(name):
                result.mismatched[name] = [here.get(name) or "-", there.get(name) or "-"]
        if result.mismatched:
            shown = ", ".join(
                f"{k} {a} here vs {b} there" for k, (a, b) in result.mismatched.items()
            )
            self.log(
                f"warning: package versions differ ({shown}); the model may differ from a local train"
            )
        return result

    # --- runs and data ---------------------------------------------------------------

    async def new_run(self) -> str:
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)
        run = f"{self.workdir}/runs/{run_id}"
        await self.s.check(f"mkdir -p {q(run)}/out {q(run)}/data", "creating the run folder")
        return run

    async def remove(self, path: str) -> None:
        await self.s.sh(f"rm -rf {q(path)}")

    async def pull(self, python: str, project_dir: str, pointers: list[str], run: str) -> None:
        """``dvc pull`` the committed pointers inside the bundle (the host's DVC remote)."""
        if not pointers:
            return
        self.log(f"dvc pull {' '.join(pointers)} on {self.s.label}")
        script = f"cd {q(project_dir)} && exec {q(python)} -m dvc pull -q " + " ".join(
            q(p) for p in pointers
        )
        done = await self.s.group(script, f"{run}/pull.pgid", env=_host_env(), on_stderr=self.log)
        if done.status != 0:
            raise RemoteCommandFailed(
                f"`dvc pull` on {self.s.label} failed (exit {done.status}):\n{done.tail()}",
                hint="push the data from here first (`dvc push`), make sure the host can reach "
                "the DVC remote (credentials via the runner's `env`), or pass --ship-data",
            )

    async def run_module(
        self,
        python: str,
        project_dir: str,
        run: str,
        args: list[str],
        on_stdout: LineFn | None = None,
        on_stderr: LineFn | None = None,
    ) -> Completed:
        script = f"cd {q(project_dir)} && exec {q(python)} -m " + " ".join(q(a) for a in args)
        return await self.s.group(
            script, f"{run}/stage.pgid", env=_host_env(), on_stdout=on_stdout, on_stderr=on_stderr
        )


def dvc_root_prefix(git: Git, project_root: Path) -> str:
    """The folder holding ``.dvc`` relative to the git root ("" at the root)."""
    for folder in (project_root, *project_root.parents):
        if (folder / ".dvc").is_dir():
            rel = git.relative(folder).as_posix()
            return "" if rel == "." else rel
        if folder == git.root:
            break
    return ""

"""The parent of the worker processes: ``python -m mlx.serve.supervisor SPEC [RESERVE_FD]``.

``mlx serve`` resolves and verifies the model, then replaces itself with this lean
process (no typer, rich, pydantic, git or DVC in memory). It starts ``workers``
processes and, when prediction logs are on, the log writer process; waits until every
worker has loaded, warmed up and bound the port; prints the URL (or one JSON line with
``--json``); restarts a worker or the log writer that dies; and on SIGTERM/SIGINT sends
SIGTERM to the workers (each drains), then to the log writer (it writes their last
rows), and exits 0.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlx.serve.spec import ServeSpec

READY_TIMEOUT = 300.0
MAX_RESTARTS = 5  # within RESTART_WINDOW seconds, then give up
RESTART_WINDOW = 60.0


class Worker:
    def __init__(self, spec_path: Path, slot: int) -> None:
        self.slot = slot
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlx.serve.worker", str(spec_path), str(slot), str(write)],
            pass_fds=(write,),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(),  # stdout is for the supervisor's one ready line
        )
        os.close(write)
        self.ready_fd = read
        self.ready = False
        self.error: str | None = None

    def read_ready(self) -> None:
        data = b""
        while chunk := os.read(self.ready_fd, 4096):
            data += chunk
        os.close(self.ready_fd)
        self.ready_fd = -1
        try:
            doc = json.loads(data.decode() or "{}")
        except ValueError:
            doc = {}
        self.ready = bool(doc.get("ready"))
        if not self.ready:
            self.error = doc.get("error") or f"worker exited with code {self.proc.poll()}"


def _start_log_writer(spec_path: Path, module: str = "mlx.serve.logwriter") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, str(spec_path)],
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
    )


FOLLOWER = "mlx.serve.follower"  # --follow: watches the registry (git, DVC: not in workers)


class Supervisor:
    def __init__(self, spec: ServeSpec, spec_path: Path) -> None:
        self.spec = spec
        self.spec_path = spec_path
        self.workers: list[Worker] = []
        self.log_writer: subprocess.Popen | None = None
        self.follower: subprocess.Popen | None = None
        self.stopping = False
        self.restarts: list[float] = []

    def _signal(self, signum, frame) -> None:  # noqa: ARG002
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        plog = self.spec.prediction_log
        if plog.enabled and plog.sample_rate > 0:
            self.log_writer = _start_log_writer(self.spec_path)
        self.workers = [Worker(self.spec_path, i) for i in range(self.spec.workers)]
        error = self._wait_ready(self.workers)
        if error:
            self._stop_all(kill=True)
            return self._fail(error)
        self._announce()
        if self.spec.release.follow:  # after the first workers: they serve the spec's models
            self.follower = _start_log_writer(self.spec_path, FOLLOWER)
        while not self.stopping:
            time.sleep(0.2)
            for i, w in enumerate(self.workers):
                if w.proc.poll() is not None and not self.stopping:
                    code = w.proc.returncode
                    if not self._may_restart():
                        self._stop_all(kill=False)
                        return self._fail(f"workers keep dying (last exit code {code}); giving up")
                    _err(f"mlx serve: worker {w.proc.pid} exited with code {code}; restarting")
                    self.workers[i] = Worker(self.spec_path, w.slot)
                elif w.ready_fd >= 0 and _readable(w.ready_fd):
                    w.read_ready()
            if self.log_writer is not None and self.log_writer.poll() is not None:
                if not self.stopping:
                    code = self.log_writer.returncode
                    if not self._may_restart():
                        self._stop_all(kill=False)
                        return self._fail(f"the log writer keeps dying (last exit code {code}); giving up")  # fmt: skip
                    _err(f"mlx serve: log writer exited with code {code}; restarting")
                    self.log_writer = _start_log_writer(self.spec_path)
            if self.follower is not None and self.follower.poll() is not None and not self.stopping:
                code = self.follower.returncode
                if not self._may_restart():
                    self._stop_all(kill=False)
                    return self._fail(f"the --follow process keeps dying (last exit code {code}); giving up")  # fmt: skip
                _err(f"mlx serve: the --follow process exited with code {code}; restarting")
                self.follower = _start_log_writer(self.spec_path, FOLLOWER)
        codes = self._stop_all(kill=False)
        if not self.spec.json_output:
            print("mlx serve: stopped (in-flight requests drained)", flush=True)
        return 0 if all(c == 0 for c in codes) else 1

    def _may_restart(self) -> bool:
        """At most MAX_RESTARTS restarts (workers and log writer) per RESTART_WINDOW."""
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW]
        if len(self.restarts) >= MAX_RESTARTS:
            return False
        self.restarts.append(now)
        return True

    def _wait_ready(self, workers: list[Worker]) -> str | None:
        deadline = time.monotonic() + READY_TIMEOUT
        sel = selectors.DefaultSelector()
        for w in workers:
            sel.register(w.ready_fd, selectors.EVENT_READ, w)
        pending = len(workers)
        while pending and not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"workers not ready after {READY_TIMEOUT:.0f}s"
            for key, _ in sel.select(min(left, 0.5)):
                w = key.data
                sel.unregister(key.fd)
                w.read_ready()
                pending -= 1
                if not w.ready:
                    return f"worker failed to start: {w.error}"
        sel.close()
        return "interrupted while starting" if pending else None

    def _stop_all(self, kill: bool) -> list[int]:
        follower = self.follower  # first: no switch starts while the workers drain
        if follower is not None and follower.poll() is None:
            follower.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                follower.wait(10)
            except subprocess.TimeoutExpired:
                follower.kill()
                follower.wait()
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + self.spec.graceful_seconds + 5
        codes = []
        for w in self.workers:
            try:
                codes.append(w.proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                codes.append(w.proc.wait())
            if w.ready_fd >= 0:
                os.close(w.ready_fd)
                w.ready_fd = -1
        writer = self.log_writer
        if (
            writer is not None and writer.poll() is None
        ):  # after the workers: it logs their last rows
            writer.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                codes.append(writer.wait(max(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                writer.kill()
                codes.append(writer.wait())
        return codes

    def _announce(self) -> None:
        spec, m = self.spec, self.spec.model
        doc = {
            "ok": True,
            "command": "serve",
            "ready": True,
            "url": spec.url,
            "host": spec.host,
            "port": spec.port,
            "pid": os.getpid(),
            "workers": [w.proc.pid for w in self.workers],
            "model": {
                "name": m.name,
                "version": m.version,
                "commit": m.commit,
                "md5": m.md5,
                "ref": m.ref,
                "path": m.onnx_path,
            },
            "infer_url": f"{spec.url}/v2/models/{m.name}/infer",
            "models": [
                {"name": x.name, "version": x.version, "ref": x.ref, "role": x.role, "md5": x.md5}
                for x in spec.all_models()
            ],
            "follow": spec.release.follow,
        }
        if spec.json_output:
            sys.stdout.write(json.dumps(doc) + "\n")
            sys.stdout.flush()
            return
        n = len(self.workers)
        print(
            f"mlx serve: {m.name} {m.version} (md5 {m.md5[:12]}) ready at {spec.url} "
            f"with {n} worker{'s' if n != 1 else ''} (pid {os.getpid()})\n"
            f"  POST {spec.url}/v2/models/{m.name}/infer   Open Inference Protocol (JSON or binary)\n"
            f"  POST {spec.url}/invocations   MLflow scoring · POST {spec.url}/predict   records\n"
            f"  GET  {spec.url}/metrics   Prometheus · GET {spec.url}/openapi.json   OpenAPI document\n"
            f"  Ctrl-C or SIGTERM drains and stops",
            flush=True,
        )

    def _fail(self, message: str) -> int:
        if self.spec.json_output:
            error = {"type": "EnvironmentProblem", "message": message, "exit_code": 3}
            sys.stdout.write(json.dumps({"ok": False, "command": "serve", "error": error}) + "\n")
            sys.stdout.flush()
        else:
            _err(f"environment error: {message}")
        return 3


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(spec_path: Path | str, reserve_fd: int | None = None) -> int:
    """Supervise until stopped; removes the run folder on the way out."""
    spec_path = Path(spec_path)
    spec = ServeSpec.read(spec_path)
    try:
        return Supervisor(spec, spec_path).run()
    finally:
        if reserve_fd is not None:
            try:
                os.close(reserve_fd)
            except OSError:
                pass
        shutil.rmtree(spec.run_dir, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(run(args[0], int(args[1]) if len(args) > 1 else None))

"""One server process: ``python -m mlx.serve.worker SPEC SLOT READY_FD``.

Loads and warms up the model, binds the shared port (SO_REUSEPORT), reports ready on
``READY_FD`` and serves until SIGTERM/SIGINT; then it stops accepting, answers what it
has received, flushes the prediction and access logs, and exits 0. It imports numpy,
onnxruntime, the HTTP stack (uvloop, httptools, orjson) and prometheus_client (for
``/metrics``): nothing that resolves models, and no pyarrow (prediction logs are spooled
to the log writer process).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from mlx.serve.spec import ServeSpec

BACKLOG = 2048


def _report(fd: int, doc: dict) -> None:
    try:
        os.write(fd, orjson.dumps(doc) + b"\n")
        os.close(fd)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    spec_path, slot, ready_fd = (argv or sys.argv[1:])[:3]
    spec = ServeSpec.read(spec_path)
    slot_n, fd = int(slot), int(ready_fd)
    # the log threads hold the GIL at most this long when the event loop wants it
    sys.setswitchinterval(0.001)
    try:
        from mlx.serve.model import ServedModel
        from mlx.serve.netutil import bind_socket
        from mlx.serve.release import read_state
        from mlx.serve.spec import ModelSpec

        state = read_state(spec.run_dir) if spec.release.follow else None
        mspecs = spec.all_models()
        if state and len(state.get("models") or []) == len(mspecs):  # restarted after a switch
            mspecs = [ModelSpec(**m) for m in state["models"]]
            spec.release.generation = int(state.get("generation", 0))
        models = []
        for m in mspecs:
            model = ServedModel.load(m, threads=spec.threads)
            model.warmup()
            models.append((m, model))
        gc.collect()
        gc.freeze()  # start-up objects leave the collector's view: shorter GC pauses
        sock = bind_socket(spec.host, spec.port)
        sock.listen(BACKLOG)
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor, which exits 3
        _report(fd, {"ready": False, "error": f"{type(exc).__name__}: {exc}", "pid": os.getpid()})
        return 3
    run: Callable[[Coroutine[Any, Any, int]], int]
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        run = asyncio.run
    return run(_serve(spec, models, sock, slot_n, fd))


async def _serve(spec: ServeSpec, models, sock, slot: int, ready_fd: int) -> int:
    from mlx.serve.accesslog import AccessLog
    from mlx.serve.app import App
    from mlx.serve.http import HttpServer
    from mlx.serve.metrics import ModelStats, WorkerStats
    from mlx.serve.predlog import PredictionSpool

    loop = asyncio.get_running_loop()
    stats = WorkerStats(spec.run_dir, slot)
    plog = spec.prediction_log
    logging = plog.enabled and plog.sample_rate > 0
    access_log = AccessLog() if spec.access_log else None
    app = App(spec, models[0][1], stats=stats, access_log=access_log)

    def served(mspec, model):
        own = mspec.role == "shadow" and spec.release.shadow_process  # scored elsewhere
        spool = None
        if logging and not own:
            spool = PredictionSpool(Path(plog.dir), model, flush_seconds=plog.flush_seconds, stats=stats)  # fmt: skip
        mstats = ModelStats(spec.run_dir, slot, model.name, model.version)
        entry = app.served(model, spool, mstats, mspec.ref, mspec.role, mspec.share)
        entry.mspec = mspec
        if own:
            entry.runner = _shadow_process(spec, slot, entry, logging)
        return entry

    app.table.entries = [served(m, model) for m, model in models]
    app.switched()
    switcher = None
    if spec.release.follow:
        from mlx.serve.switch import Switcher

        switcher = Switcher(app, spec.run_dir, spec.threads, served, spec.release.generation)
    http = HttpServer(
        app.handle,
        max_body=spec.max_body_bytes,
        keep_alive=spec.keep_alive_seconds,
        request_timeout=spec.request_timeout_seconds,
        on_response=app.on_response,
    )
    server = await loop.create_server(http.factory, sock=sock, backlog=BACKLOG)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    parent = os.getppid()

    def tick() -> None:
        http.tick()
        if switcher is not None:
            switcher.tick()
        for router in app.routers.values():
            router.sync()  # a canary another worker aborted
        stats.set_connections(len(http.connections))
        if os.getppid() != parent:  # the supervisor is gone (killed): drain and exit too
            stop.set()
        ticker[0] = loop.call_later(1.0, tick)

    ticker = [loop.call_later(1.0, tick)]
    _report(ready_fd, {"ready": True, "pid": os.getpid(), "slot": slot})
    await stop.wait()

    # graceful shutdown: stop accepting, answer what was received, flush logs
    app.ready = False
    server.close()
    deadline = time.monotonic() + spec.graceful_seconds
    http.drain()
    while (http.connections or app.table.in_flight()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        http.drain()
    ticker[0].cancel()
    for conn in list(http.connections):
        if conn.transport is not None:
            conn.transport.close()
    stats.set_connections(0)
    stats.set_queue(0)
    for entry in app.table.entries + app.table.retiring:
        if entry.runner is not None:  # shadows score what they queued, into their spools
            await loop.run_in_executor(None, entry.runner.close)
    for entry in app.table.entries + app.table.retiring:
        if entry.spool is not None:
            await loop.run_in_executor(None, entry.spool.close)
    if access_log is not None:
        access_log.close()
    _dump_modules()
    return 0


def _shadow_process(spec: ServeSpec, slot: int, entry, logging: bool):
    """The shadow's own process (:mod:`mlx.serve.shadowproc`)."""
    from dataclasses import asdict

    from mlx.serve.shadowproc import ShadowProcess

    plog = spec.prediction_log
    job = {
        "model": asdict(entry.mspec),
        "threads": spec.threads,
        "run_dir": spec.run_dir,
        "slot": slot,
        "prediction_log": {"dir": plog.dir, "flush_seconds": plog.flush_seconds}
        if logging
        else None,  # fmt: skip
    }
    rel = spec.release
    return ShadowProcess(entry, rel.shadow_sample, rel.shadow_queue, job)


def _dump_modules() -> None:
    """With MLX_SERVE_DEBUG_MODULES=DIR, write the top-level modules this worker loaded to
    DIR/<pid>.txt on exit (how tests prove workers never import pandas, lightgbm, DVC)."""
    folder = os.environ.get("MLX_SERVE_DEBUG_MODULES")
    if folder:
        names = sorted({m.split(".")[0] for m in sys.modules})
        with open(os.path.join(folder, f"{os.getpid()}.txt"), "w") as fh:
            fh.write("\n".join(names) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""A worker's side of ``--follow``: switch to the versions ``release.json`` lists.

On the worker's 1-second tick, :meth:`Switcher.tick` looks at ``release.json`` (one
``stat``); when its generation is new, the changed models are loaded, md5-verified and
warmed up in a thread (the event loop keeps answering), then switched on the event
loop in one step: new requests are routed to the new version, requests already queued
or running finish on the old session, whose batcher is kept until it is idle; then its
prediction-log spool is flushed and closed and the session is dropped (freed). Every
worker switches on its own; for up to a tick plus a load, two workers may answer with
different versions (each response names its version).
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from mlx.serve.release import read_state, state_path
from mlx.serve.slots import Served
from mlx.serve.spec import ModelSpec


def _load(mspec: ModelSpec, threads: int):
    from mlx.serve.model import ServedModel

    model = ServedModel.load(mspec, threads=threads)
    model.warmup()
    return model


def _close(runner: Any, spool: Any) -> None:
    if runner is not None:  # a shadow: score what it queued first
        runner.close()
    if spool is not None:
        spool.close()


class Switcher:
    def __init__(self, app: Any, run_dir: str, threads: int, make: Callable[[ModelSpec, Any], Served], generation: int = 0) -> None:  # fmt: skip
        self.app = app
        self.run_dir = run_dir
        self.threads = threads
        self.make = make
        self.generation = generation
        self._mtime = 0
        self._busy = False
        self._loop = asyncio.get_running_loop()

    def tick(self) -> None:
        self._reap()
        if self._busy:
            return
        try:
            mtime = os.stat(state_path(self.run_dir)).st_mtime_ns
        except OSError:
            return
        if mtime == self._mtime:
            return
        state = read_state(self.run_dir)
        if state is None:
            return
        self._mtime = mtime
        if int(state.get("generation", 0)) <= self.generation:
            self.app.table.rejected = dict(state.get("rejected") or {})
            return
        self._busy = True
        self._loop.create_task(self._apply(state))

    async def _apply(self, state: dict[str, Any]) -> None:
        table = self.app.table
        rejected = dict(state.get("rejected") or {})
        try:
            for i, doc in enumerate(state.get("models") or []):
                if i >= len(table.entries):
                    break
                old = table.entries[i]
                if doc.get("md5") == old.model.md5 and doc.get("version") == old.version:
                    continue
                mspec = ModelSpec(**doc)
                try:
                    model = await self._loop.run_in_executor(None, _load, mspec, self.threads)
                except Exception as exc:  # noqa: BLE001 - keep the old version serving
                    reason = f"worker {os.getpid()} cannot load {mspec.name} {mspec.version}: {type(exc).__name__}: {exc}"  # fmt: skip
                    print(f"mlx serve: {reason}; {old.version} keeps serving", file=sys.stderr, flush=True)  # fmt: skip
                    rejected[mspec.name] = {"version": mspec.version, "reason": reason, "serving": old.version}  # fmt: skip
                    continue
                new = self.make(mspec, model)
                table.replace(old, new)  # from here on, new requests get the new version
                table.retiring.append(old)
                if new.mstats is not None:
                    new.mstats.add("switched")
            table.rejected = rejected
            self.app.switched()
            self.generation = int(state.get("generation", 0))
        except Exception:  # noqa: BLE001 - a failed switch must not take the worker down
            traceback.print_exc(file=sys.stderr)
        finally:
            self._busy = False

    def _reap(self) -> None:
        """Free old versions once nothing they accepted is queued or running."""
        table = self.app.table
        for old in [s for s in table.retiring if s.batcher.in_flight == 0]:
            table.retiring.remove(old)
            runner, spool = old.runner, old.spool
            if runner is not None or spool is not None:
                self._loop.run_in_executor(None, _close, runner, spool)

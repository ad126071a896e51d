"""Online benchmark for one model: every server side by side, loaded in turn.

All servers of a model start together and idle while another is loaded, so each
measurement round visits every server at every concurrency within minutes (absolute
numbers drift up to 2× on these shared machines; ratios measured this close together
do not). Rounds alternate the order, and each figure is the median over rounds.
"""

from __future__ import annotations

import random
import shlex
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.serve import loadgen, payloads, procs, servers
from bench.serve.models import Model
from bench.serve.paths import REPO, WORK

HALF_PEAK_KEYS = ("mlx", "mlx-2w", "bare")


@dataclass
class Settings:
    warmup: float = 3.0
    duration: float = 10.0
    rounds: int = 2
    concurrency: tuple[int, ...] = (1, 16, 64)
    peers: bool = True
    mlx_bin: str = "mlx"
    mlx_workers: tuple[int, ...] = (1, 2)
    mlx_args: tuple[str, ...] = ()  # extra `mlx serve` flags (default: the project's config)
    half_peak: bool = True


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarise(runs: list[loadgen.WrkResult]) -> dict:
    ok = [r for r in runs if r.error is None]
    if not ok:
        return {"error": runs[-1].error if runs else "not measured"}
    return {
        "rps": _median([r.rps for r in ok]),
        "p50_ms": _median([r.p50_ms for r in ok]),
        "p99_ms": _median([r.p99_ms for r in ok]),
        "p999_ms": _median([r.p999_ms for r in ok]),
        "errors": sum(r.errors for r in ok),
        "wrk_cpu": max(r.wrk_cpu for r in ok),
        "server_cpu": _median([r.server_cpu for r in ok]),
        "rounds": [r.to_dict() for r in ok],
    }


def _paced(spec, server, bodies: Path, folder: Path, target: float, p50_ms: float, s: Settings):
    """Closed-loop pacing with wrk's ``delay()``: each connection waits ``delay`` ms after
    every answer, so rate ≈ connections / (latency + delay); tuned once to hit ``target``."""
    delay = 2
    conns = max(1, round(target * (delay + p50_ms) / 1000))
    result = None
    for _attempt in range(3):
        loadgen.run_wrk(servers.url(spec), bodies, conns, s.warmup, folder, delay_ms=delay)
        result = loadgen.run_wrk(
            servers.url(spec),
            bodies,
            conns,
            s.duration,
            folder,
            server.pids(),
            delay_ms=delay,
            offset=random.randrange(1000),
        )
        if result.error or not result.rps or abs(result.rps / target - 1) <= 0.1:
            break
        conns = max(1, round(conns * target / result.rps))
    return result


def _idle_cpu(active, live, out, log, seconds: float = 2.0) -> None:
    """CPU the idle servers burn: all of a model's servers stay up during the runs, so a
    busy-waiting idle server would tax the one being loaded."""
    time.sleep(1.0)  # let start-up work (warm-up, first log flush) settle
    pids = {spec.key: live[spec.key].pids() for spec in active}
    before = {k: procs.cpu_seconds(v) for k, v in pids.items()}
    time.sleep(seconds)
    for key, v in pids.items():
        out[key]["idle_cpu"] = round((procs.cpu_seconds(v) - before[key]) / seconds, 3)
    total = sum(out[k]["idle_cpu"] for k in pids)
    log(f"  idle CPU of all servers together: {total:.2f} cores")


def _shown(cmd: list[str], model: Model, folder: Path) -> str:
    """The command line with the long temp and repo paths shortened."""
    text = shlex.join(cmd)
    for path, short in ((model.project, "<project>"), (folder, "<work>"), (REPO, ".")):
        text = text.replace(str(path), short)
    return text


def _alive(spec, live: dict, folder: Path, out: dict, log) -> procs.Server | None:
    """The running server for ``spec``; one that was stopped from outside (a shared
    machine: someone's clean-up by process name) is restarted once per measurement and
    the restart is recorded in the results."""
    server = live[spec.key]
    if server.alive():
        return server
    tail = server.log_tail(2)
    server.stop()
    log(f"  {spec.key} had stopped (exit {server.proc.returncode}: {tail}); restarting it")
    out[spec.key].setdefault("restarts", []).append(tail)
    server = live[spec.key] = servers.launch(spec, folder)
    reason = servers.wait(spec, server)
    if reason:
        out[spec.key]["died"] = f"stopped and could not be restarted: {reason}"
        return None
    return server


def _measure(spec, live, folder, out, log, bodies: Path, c: int, s: Settings):
    """Warm-up, then the timed window; measured again (once) if the server was stopped
    from outside during it."""
    url = servers.url(spec)
    for attempt in range(2):
        server = _alive(spec, live, folder, out, log)
        if server is None:
            return loadgen.WrkResult(error=out[spec.key]["died"])
        loadgen.run_wrk(url, bodies, c, s.warmup, folder)
        result = loadgen.run_wrk(
            url, bodies, c, s.duration, folder, server.pids(), offset=random.randrange(1000)
        )
        if server.alive() or attempt:
            return result
        log(f"  {spec.key} stopped during the measurement; measuring it again")
    return result


def run(model: Model, rows: payloads.Rows, s: Settings, log=print) -> dict:
    folder = WORK / model.name
    folder.mkdir(parents=True, exist_ok=True)
    specs = servers.specs_for(model, folder, s.mlx_bin, s.peers, s.mlx_workers, s.mlx_args)
    out: dict[str, dict] = {
        spec.key: {
            "label": spec.label,
            "workers": spec.workers,
            "protocol": spec.protocol,
            "cmd": _shown(spec.cmd, model, folder),
        }
        for spec in specs
    }
    live: dict[str, procs.Server] = {}
    try:
        for spec in specs:
            if spec.skip:
                out[spec.key]["skip"] = spec.skip
            else:
                live[spec.key] = servers.launch(spec, folder)
        for spec in specs:
            if spec.key in live:
                reason = servers.wait(spec, live[spec.key])
                if reason:
                    out[spec.key]["skip"] = reason
                    live.pop(spec.key).stop()
        active = [spec for spec in specs if spec.key in live]
        log(f"  {model.name}: {len(active)} servers up: {', '.join(x.key for x in active)}")
        bodies = {
            proto: payloads.write_bodies(rows, proto, folder / f"bodies-{proto}.jsonl")
            for proto in {spec.protocol for spec in active}
        }
        for spec in active:
            if spec.check:
                problem = payloads.check_answers(servers.url(spec), rows, spec.protocol)
                out[spec.key]["check"] = problem or "ok"
        _idle_cpu(active, live, out, log)
        runs: dict[str, dict[int, list]] = {x.key: {c: [] for c in s.concurrency} for x in active}
        for rnd in range(s.rounds):
            order = active if rnd % 2 == 0 else active[::-1]
            for c in s.concurrency:
                for spec in order:
                    result = _measure(spec, live, folder, out, log, bodies[spec.protocol], c, s)
                    runs[spec.key][c].append(result)
                    log(
                        f"  round {rnd + 1} c={c:<3} {spec.key:<13} {result.rps:>9,.0f} req/s"
                        f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:8.2f} ms"
                        + (f"  {result.errors} errors" if result.errors else "")
                        + (f"  {result.error}" if result.error else "")
                    )
        for key, by_c in runs.items():
            out[key]["online"] = {str(c): summarise(v) for c, v in by_c.items()}
        if s.half_peak:
            for spec in active:
                if spec.key not in HALF_PEAK_KEYS or _alive(spec, live, folder, out, log) is None:
                    continue
                online = out[spec.key]["online"]
                peak = max((v.get("rps", 0.0) for v in online.values()), default=0.0)
                if not peak:
                    continue
                base_p50 = online.get("1", {}).get("p50_ms", 0.5)
                result = _paced(
                    spec, live[spec.key], bodies[spec.protocol], folder, peak / 2, base_p50, s
                )
                out[spec.key]["half_peak"] = {"peak_rps": peak, "target_rps": peak / 2}
                out[spec.key]["half_peak"].update(result.to_dict())
                log(
                    f"  ½ peak {spec.key:<13} {result.rps:>9,.0f} req/s (target {peak / 2:,.0f},"
                    f" {result.connections} conns, {result.delay_ms} ms think time)"
                    f"  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms"
                )
        for spec in active:
            if not live[spec.key].alive():
                continue  # stopped from outside after its last run: no memory figure
            pids = live[spec.key].pids()
            mem = procs.memory_mib(pids)
            mem["processes"] = len(pids)
            mem["rss_per_worker_mib"] = round(mem["rss_mib"] / spec.workers, 1)
            out[spec.key]["memory"] = mem
    finally:
        for server in live.values():
            server.stop()
    return out

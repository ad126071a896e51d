"""Release benchmark: ``python -m bench.serve.release [--quick] [--write-doc]``.

With the serving harness's 200-tree synth model and wrk (one thread, c=16, rotating
single-row V2 bodies): plain ``mlx serve synth#prod`` vs ``--shadow synth#staging`` vs
``--canary synth#staging=10%`` vs three models in one server (``synth#prod synth#staging``
and the churn model), with the RSS of each server's process tree (memory per extra model).
Then a ``--follow`` switch under load: wrk at c=16 for the whole window plus one probe
connection timing every request and noting the version that answered; ``synth#prod`` is
promoted to the other version mid-window. Reported: wrk's non-2xx/socket errors, the
probe's non-2xx, and the probe's p99 in the second around the first answer from the new
version vs its p99 over the steady seconds before the promote. ``--write-doc`` rewrites
the "Releases" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from bench._common import update_doc_section
from bench.serve import loadgen, payloads, procs
from bench.serve.models import _mlx, _prepare_home, _run, train_models
from bench.serve.paths import DOC, PROJECTS, WORK

SECTION = "Releases (mlx serve --shadow, --canary, many models, --follow)"


def _project(log) -> tuple[Path, dict, str, str]:
    """A copy of the synth project with prod = v1 and staging = v2 (another seed)."""
    models = train_models(log=log)
    src = models["synth"].project
    root = PROJECTS / "release"
    env = _prepare_home(PROJECTS / "home")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(src, root, symlinks=True)
    mlx = _mlx()
    _run([mlx, "promote", "--stage", "prod", "--force", "--reason", "bench"], root, env)
    cfg = (root / "mlops.yaml").read_text().replace("seed: 7", "seed: 8")
    (root / "mlops.yaml").write_text(cfg)
    _run(["git", "commit", "-qam", "v2: another seed"], root, env)
    log("training the second version (another seed) for the release benchmark")
    _run([mlx, "train", "--commit", "--json"], root, env)
    _run([mlx, "promote", "--stage", "staging", "--force", "--reason", "bench"], root, env)
    tags = subprocess.run(["git", "tag", "-l", "synth@v*", "--sort=v:refname"], cwd=root, capture_output=True, text=True).stdout.split()  # fmt: skip
    return root, {**env, "churn_dir": str(models["churn"].dir)}, tags[0].split("@")[1], tags[-1].split("@")[1]  # fmt: skip


BASELINE: dict[str, str] = {}  # --baseline: PYTHONPATH for the "base-*" servers


def _start(root: Path, env: dict, name: str, args: list[str]) -> tuple[procs.Server, str]:
    if name.startswith("base-") and BASELINE:
        env = {**env, **BASELINE}  # the same CLI, the baseline's mlx package first on the path
    port = procs.free_port()
    cmd = [_mlx(), "serve", *args, "--port", str(port)]
    server = procs.start(name, cmd, WORK / "release" / f"{name}.log", port, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    problem = procs.wait_ready(server, url + "/v2/health/ready", 180)
    if problem:
        raise RuntimeError(f"{name}: {problem}")
    return server, url


def _workers_mib(server: procs.Server) -> float:
    """RSS of the worker processes and their shadow processes (the supervisor and log
    writer are the same whatever is served)."""
    pids = []
    for pid in server.pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"mlx.serve.worker" in cmd or b"mlx.serve.shadowproc" in cmd:
                pids.append(pid)
        except OSError:
            continue
    return procs.memory_mib(pids)["rss_mib"]


def _shadow_counts(url: str) -> dict:
    """The shadow's scored and dropped request counts (all rounds and warm-ups)."""
    import urllib.request

    time.sleep(1.0)  # the shadow's last records
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        for key in ("scored", "dropped"):
            if line.startswith(f"mlx_shadow_{key}_total{{"):
                out[f"shadow_{key}"] = out.get(f"shadow_{key}", 0) + float(line.rsplit(" ", 1)[1])
    return out


def _steady_all(root, env, configs: dict[str, list[str]], bodies: Path, s, log) -> dict:
    """Every configuration up side by side, measured one at a time in interleaved rounds
    (order reversed every other round); medians over rounds."""
    folder = WORK / "release"
    live = {key: _start(root, env, key, args) for key, args in configs.items()}
    idle = {key: _workers_mib(server) for key, (server, _) in live.items()}  # after warm-up
    runs: dict[str, list] = {key: [] for key in configs}
    try:
        for _server, url in live.values():  # warm every server once
            loadgen.run_wrk(url + "/v2/models/synth/infer", bodies, 16, s.warmup, folder)
        order = list(configs)
        for r in range(s.rounds):
            for key in order if r % 2 == 0 else order[::-1]:
                server, url = live[key]
                loadgen.run_wrk(url + "/v2/models/synth/infer", bodies, 16, 1.0, folder)
                run = loadgen.run_wrk(url + "/v2/models/synth/infer", bodies, 16, s.duration, folder, server.pids())  # fmt: skip
                runs[key].append(run)
                log(f"    round {r + 1} {key}: {run.rps:,.0f} req/s, p99 {run.p99_ms:.2f} ms, {run.errors} errors")  # fmt: skip
        mem = {key: _workers_mib(server) for key, (server, _) in live.items()}
        shadow = {key: _shadow_counts(url) for key, (_, url) in live.items()}
    finally:
        for server, _ in live.values():
            server.stop()
    out = {}
    for key, rs in runs.items():
        out[key] = {
            "args": " ".join(configs[key]),
            "rps": statistics.median(r.rps for r in rs),
            "p50_ms": statistics.median(r.p50_ms for r in rs),
            "p99_ms": statistics.median(r.p99_ms for r in rs),
            "errors": sum(r.errors for r in rs),
            "requests": sum(r.requests for r in rs),
            "worker_rss_mib": mem[key],
            "worker_rss_idle_mib": idle[key],
            **shadow[key],
        }
    return out


class Probe:
    """One keep-alive connection posting bodies in a loop: (t, seconds, status, version)."""

    def __init__(self, port: int, bodies: list[str]) -> None:
        self.port, self.bodies = port, bodies
        self.seen: list[tuple[float, float, int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self.stop.is_set():
            body = self.bodies[i % len(self.bodies)]
            i += 1
            t0 = time.monotonic()
            try:
                conn.request("POST", "/v2/models/synth/infer", body, {"content-type": "application/json"})  # fmt: skip
                resp = conn.getresponse()
                resp.read()
                self.seen.append((t0, time.monotonic() - t0, resp.status, resp.getheader("x-model-version") or ""))  # fmt: skip
            except (OSError, http.client.HTTPException):
                self.seen.append((t0, time.monotonic() - t0, 0, ""))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            time.sleep(0.002)


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.99 * len(values)))] * 1000 if values else float("nan")


def _follow(root, env, v1, v2, bodies: Path, s) -> dict:
    mlx = _mlx()
    _run([mlx, "promote", f"synth@{v1}", "--stage", "prod", "--force", "--reason", "bench"], root, env)  # fmt: skip
    server, url = _start(root, env, "follow", ["synth#prod", "--follow", "--interval", "0.5"])
    window = 8.0 if s.quick else 16.0
    result: dict = {}
    try:
        loadgen.run_wrk(url + "/v2/models/synth/infer", bodies, 16, s.warmup, WORK / "release")
        holder: dict = {}

        def load() -> None:
            holder["wrk"] = loadgen.run_wrk(url + "/v2/models/synth/infer", bodies, 16, window, WORK / "release", server.pids())  # fmt: skip

        wrk = threading.Thread(target=load)
        wrk.start()
        probe = Probe(server.port, bodies.read_text().splitlines()[:200])
        time.sleep(window * 0.4)
        t_promote = time.monotonic()
        _run([mlx, "promote", f"synth@{v2}", "--stage", "prod", "--force", "--reason", "bench"], root, env)  # fmt: skip
        wrk.join()
        probe.stop.set()
        probe.thread.join(10)
        seen = probe.seen
        first_new = next((t for t, _, _, v in seen if v == v2), None)
        steady = [d for t, d, _, _ in seen if seen[0][0] + 1.0 <= t < t_promote]
        around = [d for t, d, _, _ in seen if first_new is not None and abs(t - first_new) <= 0.5]  # fmt: skip
        w = holder["wrk"]
        result = {
            "wrk_requests": w.requests,
            "wrk_rps": w.rps,
            "wrk_errors": w.errors,
            "wrk_p99_ms": w.p99_ms,
            "probe_requests": len(seen),
            "probe_non_2xx": sum(1 for _, _, st, _ in seen if not 200 <= st < 300),
            "switched": first_new is not None,
            "switch_after_promote_s": None if first_new is None else first_new - t_promote,
            "steady_p99_ms": _p99(steady),
            "switch_second_p99_ms": _p99(around),
            "switch_second_max_ms": max(around) * 1000 if around else float("nan"),
        }
    finally:
        server.stop()
    return result


def render(res: dict) -> str:
    m = res["meta"]
    plain = res["steady"]["plain"]
    lines = [
        f"{m['date']}, {m['machine']}, {m['command']}"
        + (
            " (a --quick run: short windows, 1 round; rerun without --quick for the doc's figures)"
            if m["quick"]
            else ""
        ),  # fmt: skip
        "",
        "wrk, one thread, c=16, single-row V2 JSON bodies rotating over 1,000 rows, the 200-tree "
        "× 31-leaf synth model; each server with the project's default serve settings (access "
        "log and Parquet prediction logs on), one worker each, all up side by side and "
        "measured one at a time in interleaved rounds (medians). Throughput and p99 of the answers.",
        "",
        "| server | req/s | vs plain | p50 ms | p99 ms | p99 vs plain | non-2xx | worker RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("plain", "mlx serve synth#prod"), ("shadow", "+ --shadow synth#staging"), ("canary", "+ --canary synth#staging=10%"), ("three", "three models (synth#prod synth#staging churn)")]  # fmt: skip
    base = m.get("baseline")
    if base:
        rows += [(f"base-{k}", f"baseline {base}: {label}") for k, label in rows[:3]]
    for key, label in rows:
        r = res["steady"][key]
        lines.append(
            f"| {label} | {r['rps']:,.0f} | {r['rps'] / plain['rps'] - 1:+.1%} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['p99_ms'] / plain['p99_ms'] - 1:+.1%} | {r['errors']} | {r['worker_rss_mib']:.0f} |"  # fmt: skip
        )
    extra = (res["steady"]["three"]["worker_rss_idle_mib"] - plain["worker_rss_idle_mib"]) / 2
    if base:
        bp = res["steady"]["base-plain"]
        lines += ["", "Baseline servers against their own plain: " + "; ".join(
            f"{k} {res['steady'][f'base-{k}']['rps'] / bp['rps'] - 1:+.1%} req/s, {res['steady'][f'base-{k}']['p99_ms'] / bp['p99_ms'] - 1:+.1%} p99"  # fmt: skip
            for k in ("shadow", "canary"))]  # fmt: skip
    sh = res["steady"]["shadow"]
    if "shadow_scored" in sh:
        done = sh["shadow_scored"] / max(1.0, sh["shadow_scored"] + sh.get("shadow_dropped", 0))
        lines += ["", f"The shadow scored {sh['shadow_scored']:,.0f} requests and dropped {sh.get('shadow_dropped', 0):,.0f} ({done:.1%} scored) over all rounds."]  # fmt: skip
    f = res["follow"]
    lines += [
        "",
        f"Memory per extra model (worker RSS when ready, before load: three models minus one, / 2): {extra:.1f} MiB "  # fmt: skip
        "(the churn model is smaller than synth; the follower and the log writer are extra processes, not per model).",  # fmt: skip
        "",
        f"`--follow` switch under load (`synth#prod` promoted {f.get('switch_after_promote_s') or float('nan'):.2f} s before the first answer "  # fmt: skip
        f"from the new version): wrk {f['wrk_requests']:,} requests ({f['wrk_rps']:,.0f} req/s), "
        f"{f['wrk_errors']} non-2xx/socket errors; probe connection {f['probe_requests']:,} "
        f"requests, {f['probe_non_2xx']} non-2xx; probe p99 in the second around the switch "
        f"{f['switch_second_p99_ms']:.2f} ms (max {f['switch_second_max_ms']:.2f}) vs "
        f"{f['steady_p99_ms']:.2f} ms steady = {f['switch_second_p99_ms'] / f['steady_p99_ms']:.2f}× "  # fmt: skip
        "(target ≤ 3×).",
        "",
        "Targets (issue 15): shadow ≤ 10% throughput and ≤ 10% p99 cost; canary routing ≤ 5%; "
        "switch: 0 non-2xx, p99 of the switch second ≤ 3× steady. One worker: the shadow "
        "scores in its own process at idle CPU priority (serve.release.shadow_process), so "
        "it takes no GIL from the primary and, with no spare core, scores what idle CPU "
        "allows and drops the rest (counted) rather than slowing the primary.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serve.release", description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--quick", action="store_true", help="short windows, 1 round")
    p.add_argument("--write-doc", action="store_true", help=f"rewrite the {SECTION!r} section")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 2; --quick 1)")
    p.add_argument("--baseline", metavar="SRC", help="also serve plain/shadow/canary with the mlx package in SRC (e.g. `git archive <commit>` unpacked): before/after in one run")  # fmt: skip
    args = p.parse_args(argv)
    problem = loadgen.check_wrk()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 3
    procs.install_cleanup()

    class S:
        quick = args.quick
        warmup = 1.0 if args.quick else 3.0
        duration = 3.0 if args.quick else 10.0
        rounds = args.rounds or (1 if args.quick else 2)

    root, env, v1, v2 = _project(print)
    churn = env.pop("churn_dir")
    from bench.serve.models import _load

    rows = payloads.sample_rows(_load("synth", root))
    bodies = payloads.write_bodies(rows, "v2", WORK / "release" / "bodies-v2.jsonl")
    configs = {
        "plain": ["synth#prod"],
        "shadow": ["synth#prod", "--shadow", "synth#staging"],
        "canary": ["synth#prod", "--canary", "synth#staging=10%"],
        "three": ["synth#prod", "synth#staging", churn],
    }
    if args.baseline:
        BASELINE["PYTHONPATH"] = str(Path(args.baseline).resolve())
        configs.update({f"base-{k}": configs[k] for k in ("plain", "shadow", "canary")})
    for key, cfg in configs.items():
        print(f"  {key}: mlx serve {' '.join(cfg)}")
    steady = _steady_all(root, env, configs, bodies, S, print)
    print("  follow: a promote under load")
    follow = _follow(root, env, v1, v2, bodies, S)
    print(f"    {json.dumps(follow)}")
    import os

    res = {
        "meta": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",  # fmt: skip
            "command": "python -m bench.serve.release"
            + (" --quick" if args.quick else "")
            + (f" --rounds {args.rounds}" if args.rounds else "")
            + (" --baseline SRC" if args.baseline else ""),  # fmt: skip
            "baseline": Path(args.baseline).name if args.baseline else None,
            "rounds": S.rounds,
            "quick": args.quick,
            "versions": [v1, v2],
        },
        "steady": steady,
        "follow": follow,
    }
    (WORK / "release").mkdir(parents=True, exist_ok=True)
    (WORK / "release" / "results-latest.json").write_text(json.dumps(res, indent=2))
    text = render(res)
    print(f"\n## {SECTION}\n\n{text}")
    if args.write_doc:
        update_doc_section(SECTION, text, DOC)
        print(f"wrote the {SECTION!r} section of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

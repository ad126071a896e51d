"""Markdown tables (printed, and written into the "Serving" section of
docs/benchmarks.md) from the benchmark's JSON results."""

from __future__ import annotations

SECTION = "Serving"
BASELINE = "bare"


def _f(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r < 100 else f"{r:,.0f}×"


def online_table(servers: dict, concurrency: list[str]) -> list[str]:
    lines = [
        "| server | conc. | req/s | × bare app | p50 ms | p99 ms | server CPU (cores) | wrk CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = servers.get(BASELINE, {}).get("online", {})
    for c in concurrency:
        for srv in servers.values():
            label = srv["label"]
            if "skip" in srv:
                if c == concurrency[0]:
                    lines.append(f"| {label} | all | not measured: {_clean(srv['skip'])} ||||||")
                continue
            run = srv.get("online", {}).get(c, {})
            if "error" in run:
                lines.append(f"| {label} | {c} | failed: {_clean(run['error'])} ||||||")
                continue
            note = f" ({run['errors']} errors)" if run.get("errors") else ""
            if srv.get("restarts"):
                note += f" (restarted {len(srv['restarts'])}× after being stopped from outside)"
            if srv.get("check") not in (None, "ok"):
                note += f" ⚠ {_clean(srv['check'])}"
            lines.append(
                f"| {label}{note} | {c} | {_f(run['rps'])} | "
                f"{_ratio(run['rps'], base.get(c, {}).get('rps'))} | {_f(run['p50_ms'])} | "
                f"{_f(run['p99_ms'])} | {run['server_cpu']:.2f} | {run['wrk_cpu']:.2f} |"
            )
    return lines


def memory_table(servers: dict) -> list[str]:
    lines = [
        "| server | workers | processes | RSS total MiB | RSS per worker MiB | PSS total MiB "
        "| idle CPU | p99 at ½ peak (rate) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for srv in servers.values():
        mem = srv.get("memory")
        if not mem:
            continue
        half = srv.get("half_peak")
        half_txt = "–"
        if half and not half.get("error"):
            half_txt = f"{half['p99_ms']:.2f} ms ({half['rps']:,.0f} req/s)"
        lines.append(
            f"| {srv['label']} | {srv['workers']} | {mem['processes']} | {mem['rss_mib']:.0f} | "
            f"{mem['rss_per_worker_mib']:.0f} | {mem['pss_mib']:.0f} | "
            f"{srv.get('idle_cpu', 0):.2f} | {half_txt} |"
        )
    return lines


def floor_table(floor: list[dict]) -> list[str]:
    lines = [
        "| rows per call | onnxruntime µs/call | µs/row | LightGBM predict µs/call | µs/row |",
        "|---:|---:|---:|---:|---:|",
    ]
    for f in floor:
        lines.append(
            f"| {f['rows']} | {_f(f['onnxruntime_us_per_call'])} | "
            f"{_f(f['onnxruntime_us_per_row'], 3)} | {_f(f['lightgbm_us_per_call'])} | "
            f"{_f(f['lightgbm_us_per_row'], 3)} |"
        )
    return lines


def batch_table(batch: dict) -> list[str]:
    rps = batch.get("rows_per_s", {})
    labels = {
        "mlx": "mlx serve --batch (end to end: start, read, score, write)",
        "mlx-inner": "mlx serve --batch, the time mlx reports (read, score, write)",
        "onnxruntime": "bare onnxruntime loop (in memory, same chunks)",
        "lightgbm": "LightGBM Booster.predict (in memory)",
    }
    lines = [
        "| scorer | rows/s | best s | × ORT loop | × LightGBM |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in labels.items():
        if key not in rps:
            if key == "mlx-inner":
                continue
            reason = batch.get("errors", {}).get(key, "not measured")
            lines.append(f"| {label} | not measured: {_clean(reason)} ||||")
            continue
        lines.append(
            f"| {label} | {rps[key]:,.0f} | {min(batch['seconds'][key]):.2f} | "
            f"{_ratio(rps[key], rps.get('onnxruntime'))} | {_ratio(rps[key], rps.get('lightgbm'))} |"
        )
    return lines


def _clean(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")[:220]


def target_model(results: dict) -> dict | None:
    """The model the targets are checked on: the 200 × 31, 30-feature one when present."""
    return results["models"].get("synth") or next(iter(results["models"].values()), None)


def targets(results: dict) -> list[str]:
    """The issue's targets for mlx, with the measured value and a verdict."""
    rows = []
    model = target_model(results)
    if model:
        srv = model["online"]
        base16 = srv.get(BASELINE, {}).get("online", {}).get("16", {}).get("rps")
        for key in ("mlx", "mlx-2w"):
            m = srv.get(key, {})
            if "online" not in m:
                continue
            r16 = m["online"].get("16", {})
            if "rps" not in r16:
                continue
            label = m["label"]
            rows.append(_target(f"{label}: c=16 vs bare app", r16["rps"], base16, 1.5))
            for peer, need in (("mlserver", 10), ("mlflow", 50)):
                other = srv.get(peer, {}).get("online", {}).get("16", {}).get("rps")
                rows.append(
                    _target(
                        f"{label}: c=16 vs {srv.get(peer, {}).get('label', peer)}",
                        r16["rps"],
                        other,
                        need,
                    )
                )
            rows.append(
                f"| {label}: p99 at c=16 ≤ 5 ms | {r16['p99_ms']:.2f} ms | "
                f"{'yes' if r16['p99_ms'] <= 5 else 'no'} |"
            )
            half = m.get("half_peak")
            if half and not half.get("error"):
                rows.append(
                    f"| {label}: p99 at ½ peak ≤ 2 ms | {half['p99_ms']:.2f} ms at "
                    f"{half['rps']:,.0f} req/s | {'yes' if half['p99_ms'] <= 2 else 'no'} |"
                )
    batch = results.get("batch", {}).get("rows_per_s", {})
    if "mlx" in batch:
        rows.append(
            _target("batch: mlx vs bare ORT loop", batch["mlx"], batch.get("onnxruntime"), 0.8)
        )
        rows.append(
            _target("batch: mlx vs LightGBM predict", batch["mlx"], batch.get("lightgbm"), 1.5)
        )
    if not rows:
        return ["No mlx figures in this run, so no target can be checked."]
    return ["| target | measured | met? |", "|---|---|---|", *rows]


def _busy(meta: dict) -> bool:
    loads = [meta["machine"][k].split()[0] for k in ("load_before", "load_after")]
    return max(float(x) for x in loads) > 0.5 * meta["machine"]["nproc"] + 1


def _target(label: str, value: float, other: float | None, need: float) -> str:
    if not other:
        return f"| {label} ≥ {need:g}× | peer not measured | – |"
    ratio = value / other
    return f"| {label} ≥ {need:g}× | {ratio:.2f}× | {'yes' if ratio >= need else 'no'} |"


def render(results: dict) -> str:
    meta = results["meta"]
    conc = [str(c) for c in meta["settings"]["concurrency"]]
    out = [
        "mlx serve against MLflow `models serve`, MLServer (LightGBM runtime), a bare "
        "Starlette + onnxruntime app and the same app answering a constant, on the same "
        "models, under the same load generator, in one run; plus the raw onnxruntime call "
        "(the floor) and batch scoring. Reproduce with `make bench-serve` (full run, about "
        "25 minutes, rewrites this section; needs `wrk`: `apt-get install -y wrk`) or "
        "`python -m bench.serve --quick` while developing; the peers' venvs are built once "
        "under `bench/.venvs/`, results are dumped as JSON under `bench/.work/serve/`.",
        "",
        f"Measured {meta['date']} on {meta['machine']['nproc']} cores "
        f"({meta['machine']['cpu']}), {meta['machine']['mem_gib']:.0f} GiB; load average "
        f"{meta['machine']['load_before']} before, {meta['machine']['load_after']} after."
        + (
            " The machine was shared with other work during the run, so absolute figures "
            "are below a quiet machine's; compare the ratios, measured minutes apart."
            if _busy(meta)
            else ""
        ),
        "",
        f"Command: `{meta['command']}`. Load generator: {meta['loadgen']}",
        "",
        f"Settings: {meta['settings_text']}. Versions: {meta['versions_text']}.",
        "",
    ]
    for note in meta.get("notes", []):
        out.append(f"- {note}")
    if meta.get("notes"):
        out.append("")
    tm = target_model(results)
    on = f" ({tm['describe']})" if tm else ""
    out += [f"### Targets{on}", "", *targets(results), ""]
    for name, model in results["models"].items():
        out += [f"### Online: {model['describe']}", ""]
        out += online_table(model["online"], conc) + [""]
        out += ["Memory after the load, and latency at half of each server's own peak:", ""]
        out += memory_table(model["online"]) + [""]
        out += ["How each server was started (`<project>` is the model's temp mlx project):", ""]
        out += [
            f"- {srv['label']}: `{srv['cmd']}`"
            for srv in model["online"].values()
            if srv.get("cmd")
        ]
        out += [""]
        out += [f"Floor, {name}: the raw onnxruntime session call (1 thread, rotating rows):", ""]
        out += floor_table(model["floor"]) + [""]
    batch = results.get("batch")
    if batch:
        out += [
            f"### Batch: {batch['rows']:,} rows × {batch['features']} features from Parquet "
            f"({batch['input_mib']} MiB), {batch['threads']} threads, chunks of "
            f"{batch['chunk_rows']:,} rows",
            "",
            *batch_table(batch),
            "",
            f"onnxruntime vs LightGBM on these rows: max |Δp| = "
            f"{batch['onnx_vs_lightgbm_max_abs_diff']:.2g}; "
            f"{batch['onnx_vs_lightgbm_rows_over_1e-5']:,} rows differ by more than 1e-5 "
            "(rows that fall exactly on a split threshold, which the ONNX trees hold as "
            "float32 while LightGBM compares in float64).",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"

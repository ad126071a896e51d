"""Markdown summary of a monitoring run (for `$GITHUB_STEP_SUMMARY` and PR comments)."""

from __future__ import annotations

from typing import Any

from mlx.monitor.engine import MonitorReport
from mlx.monitor.verdict import FeatureResult

MAX_ROWS = 15


def summary(report: MonitorReport) -> str:
    v = report.verdict
    name = report.model.get("name") or report.model.get("ref") or "model"
    head = {
        "drift": "DRIFT",
        "quality": "DATA QUALITY FAILED",
        "insufficient": "NOT ENOUGH DATA",
        "ok": "OK",
    }[v.status]
    cur = report.current
    lines = [
        f"## mlx monitor: {name}: **{head}**",
        "",
        f"Current: `{cur['source']}` ({cur['rows']:,} rows"
        + (f", {cur['files']} files" if cur["kind"] == "logs" else "")
        + (f", {cur['from']} to {cur['to']}" if cur.get("from") else "")
        + f") against the reference profile ({report.reference['rows']:,} rows).",
        "",
        f"Drifted share of feature importance: **{v.drift_share:.0%}** "
        f"(bound {v.bound:.0%}); {len(v.drifted)} of {len(report.features)} features drifted.",
        "",
    ]
    lines += [f"- {_esc(r)}" for r in v.reasons]
    if v.reasons:
        lines.append("")
    shown = [f for f in report.features if f.drifted] or report.features[:5]
    shown = shown[:MAX_ROWS]
    lines += [
        "| feature | status | importance | PSI | KS | Wasserstein (σ) | why |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [_row(f) for f in shown]
    hidden = len(report.features) - len(shown)
    if hidden > 0:
        lines.append(f"| … {hidden} more | | | | | | |")
    if report.prediction is not None:
        p = report.prediction
        lines += [
            "",
            f"Prediction drift: **{'yes' if p.status == 'drift' else 'no'}** "
            f"(PSI {_f(p.stats.get('psi'))}, KS {_f(p.stats.get('ks'))}).",
        ]
    if report.performance:
        lines += ["", _performance(report.performance)]
    for note in report.notes:
        lines += ["", f"_{_esc(note)}_"]
    return "\n".join(lines) + "\n"


def _row(f: FeatureResult) -> str:
    s = f.stats
    why = "; ".join(f.reasons) or ""
    return (
        f"| `{f.name}` | {f.status} | {f.importance:.3f} | {_f(s.get('psi'))} | "
        f"{_f(s.get('ks'))} | {_f(s.get('wasserstein'))} | {_esc(why)} |"
    )


def _performance(perf: dict[str, Any]) -> str:
    rows = [
        f"Live metrics on {perf['rows']:,} labelled rows:",
        "",
        "| metric | live | train | change |",
        "|---|---:|---:|---:|",
    ]
    for m in perf["metrics"]:
        change = "" if m["change"] is None else f"{m['change']:+.1%}"
        rows.append(f"| {m['metric']} | {_f(m['live'])} | {_f(m['train'])} | {change} |")
    return "\n".join(rows)


def _f(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, no fetches).

Top: the verdict and why. Then the features ranked by severity (status, importance,
the statistics against their thresholds), then a card per feature with its reference vs
current distribution, drifted ones first. About 5 KB per feature.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any

from mlx.monitor.engine import MonitorReport
from mlx.monitor.plots import CUR_COLOR, REF_COLOR, feature_chart
from mlx.monitor.verdict import Check, FeatureResult

STATUS_STYLE = {
    "missing": ("#7f1d1d", "#fee2e2"),
    "quality": ("#9a3412", "#ffedd5"),
    "drift": ("#b91c1c", "#fee2e2"),
    "insufficient": ("#475569", "#f1f5f9"),
    "ok": ("#166534", "#dcfce7"),
}
VERDICT_TEXT = {
    "drift": "Drift",
    "quality": "Data quality failed",
    "insufficient": "Not enough data",
    "ok": "No drift",
}

CSS = f"""
*{{box-sizing:border-box}}
body{{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;background:#f8fafc}}
main{{max-width:1180px;margin:0 auto;padding:24px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:17px;margin:28px 0 10px}}
.muted{{color:#64748b}} code{{font:12px ui-monospace,Menlo,monospace}}
.banner{{display:flex;gap:18px;align-items:center;padding:16px 20px;border-radius:10px;margin:16px 0}}
.banner .big{{font-size:24px;font-weight:700}}
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}}
.card{{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px}}
.card .n{{font-size:22px;font-weight:700}}
table{{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e2e8f0;border-radius:10px;overflow:hidden}}
th,td{{padding:6px 10px;border-bottom:1px solid #f1f5f9;text-align:left;vertical-align:top}}
th{{background:#f1f5f9;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#475569}}
td.num{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
td.bad{{color:#b91c1c;font-weight:600}}
.chip{{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600}}
.bar{{display:inline-block;height:8px;background:{CUR_COLOR};border-radius:2px;vertical-align:middle}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:14px}}
.feat{{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px}}
.feat.drifted{{border-color:#fca5a5;box-shadow:0 0 0 1px #fecaca}}
.feat h3{{margin:0 0 2px;font-size:15px;display:flex;justify-content:space-between;gap:8px}}
.feat ul{{margin:6px 0 0;padding-left:18px;color:#991b1b}}
.legend span{{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}}
svg{{display:block;max-width:100%;height:auto;margin-top:6px}}
svg .lbl{{font-size:11px;fill:#334155}} svg .val{{font-size:10px;fill:#64748b}} svg .axis{{stroke:#cbd5e1}}
a{{color:#1d4ed8;text-decoration:none}} a:hover{{text-decoration:underline}}
"""


def render(report: MonitorReport) -> str:
    """The whole page as a string."""
    v = report.verdict
    fg, bg = STATUS_STYLE["drift" if v.drift else v.status]
    model = report.model
    title = f"mlx monitor: {model.get('name') or model.get('ref') or 'model'}"
    cur = report.current
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<div class="muted">Current <code>{escape(str(cur["source"]))}</code> '
        f"({cur['rows']:,} rows{_window(cur)}) against the reference profile "
        f"({report.reference['rows']:,} rows{_source(report.reference)}); "
        f"model <code>{escape(str(model.get('ref', '')))}</code>; {when}.</div>",
        f'<div class="banner" style="background:{bg};color:{fg}">'
        f'<div class="big">{VERDICT_TEXT[v.status]}</div><div>'
        + "<br>".join(escape(r) for r in v.reasons or ["every check passed"])
        + "</div></div>",
        _cards(report),
        "<h2>Features ranked by severity</h2>",
        _table(report.features),
    ]
    if report.prediction is not None:
        body += [
            "<h2>Predictions</h2>",
            '<div class="grid">',
            _feature_card(report.prediction),
            "</div>",
        ]
    if report.performance:
        body += ["<h2>Live metrics</h2>", _performance(report.performance)]
    if report.schema.get("extra"):
        body.append(
            f'<p class="muted">Columns not used by the model: '
            f"{escape(', '.join(report.schema['extra']))}</p>"
        )
    body += [
        "<h2>Distributions</h2>",
        f'<div class="legend muted">Reference<span style="background:{REF_COLOR}"></span>'
        f' current<span style="background:{CUR_COLOR}"></span></div>',
        '<div class="grid">',
        *(_feature_card(f) for f in report.features),
        "</div>",
    ]
    body += [f'<p class="muted">{escape(n)}</p>' for n in report.notes]
    body.append(_footer(report))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        + "\n".join(body)
        + "</main></body></html>\n"
    )


def _source(ref: dict[str, Any]) -> str:
    source = ref.get("source")
    if not source:
        return ""
    return ", stored at train time" if source == "metadata" else f", from {escape(str(source))}"


def _window(cur: dict[str, Any]) -> str:
    out = f", {cur['files']} log files" if cur.get("kind") == "logs" else ""
    if cur.get("from"):
        out += f", {escape(cur['from'][:19])} to {escape(cur['to'][:19])}"
    return out


def _cards(report: MonitorReport) -> str:
    v = report.verdict
    n = len(report.features)
    quality = sum(f.status in ("missing", "quality") for f in report.features)
    cards = [
        ("Drifted importance", f"{v.drift_share:.0%}", f"bound {v.bound:.0%}"),
        ("Features drifted", f"{len(v.drifted)} / {n}", "incl. data-quality failures"),
        ("Data quality", "failed" if v.quality_failed else "ok", f"{quality} feature(s)"),
    ]
    if report.prediction is not None:
        p = report.prediction.stats
        cards.append(
            (
                "Prediction drift",
                "yes" if v.prediction_drift else "no",
                f"PSI {p.get('psi', 0):.3f}, KS {p.get('ks', 0):.3f}",
            )
        )
    items = "".join(
        f'<div class="card"><div class="muted">{a}</div><div class="n">{escape(b)}</div>'
        f'<div class="muted">{escape(c)}</div></div>'
        for a, b, c in cards
    )
    return f'<div class="cards">{items}</div>'


def _table(features: list[FeatureResult]) -> str:
    top = max((f.importance for f in features), default=0.0) or 1.0
    head = (
        "<tr><th>#</th><th>feature</th><th>status</th><th>importance</th><th>PSI</th>"
        "<th>KS</th><th>Wasserstein σ</th><th>null rate</th><th>why</th></tr>"
    )
    rows = []
    for i, f in enumerate(features, 1):
        s, ref = f.stats, f.reference
        checks = {c.name: c for c in f.checks}
        null = (
            "" if "null_rate" not in s else f"{ref.get('null_rate', 0):.1%} → {s['null_rate']:.1%}"
        )
        rows.append(
            f'<tr><td class="num">{i}</td><td><a href="#f-{_anchor(f.name)}">'
            f'<code>{escape(f.name)}</code></a> <span class="muted">{f.kind}</span></td>'
            f"<td>{_chip(f.status)}</td>"
            f'<td class="num"><span class="bar" style="width:{60 * f.importance / top:.0f}px"></span> '
            f"{f.importance:.3f}</td>"
            + "".join(_stat_cell(checks.get(k), s.get(k)) for k in ("psi", "ks", "wasserstein"))
            + _stat_cell(checks.get("null_rate"), None, text=null)
            + f"<td>{'<br>'.join(escape(r) for r in f.reasons)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _stat_cell(check: Check | None, value: float | None, text: str | None = None) -> str:
    bad = check is not None and check.failed
    shown = text if text is not None else ("" if value is None else f"{value:.3f}")
    tip = (
        f' title="threshold {check.threshold:.3g}"' if check is not None and check.threshold else ""
    )
    return f'<td class="num{" bad" if bad else ""}"{tip}>{escape(shown)}</td>'


def _feature_card(f: FeatureResult) -> str:
    chart = feature_chart(f.kind, f.reference, f.stats) if f.reference else ""
    s = f.stats
    facts = []
    if f.kind != "categorical" and s.get("count"):
        ref = f.reference
        facts.append(
            f"mean {ref.get('mean', 0):.4g} → {s['mean']:.4g}, "
            f"std {ref.get('std', 0):.4g} → {s['std']:.4g}"
        )
    elif f.kind == "categorical" and "unseen_share" in s:
        facts.append(f"unseen {s['unseen_share']:.1%}, {s.get('count', 0):,} values")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in f.reasons)
    return (
        f'<div class="feat{" drifted" if f.drifted else ""}" id="f-{_anchor(f.name)}">'
        f"<h3><code>{escape(f.name)}</code>{_chip(f.status)}</h3>"
        f'<div class="muted">{escape("; ".join(facts))}</div>'
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + chart
        + "</div>"
    )


def _performance(perf: dict[str, Any]) -> str:
    rows = []
    for m in perf["metrics"]:
        train = "" if m["train"] is None else f"{m['train']:.4f}"
        change = "" if m["change"] is None else f"{m['change']:+.1%}"
        bad = " bad" if m["degraded"] else ""
        rows.append(
            f'<tr><td>{escape(m["metric"])}</td><td class="num">{m["live"]:.4f}</td>'
            f'<td class="num">{train}</td><td class="num{bad}">{change}</td></tr>'
        )
    return (
        f'<p class="muted">{perf["rows"]:,} labelled rows ({perf["unmatched"]:,} without a '
        "label)</p><table><tr><th>metric</th><th>live</th><th>train</th><th>change</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _chip(status: str) -> str:
    fg, bg = STATUS_STYLE[status]
    label = "not enough data" if status == "insufficient" else status
    return f'<span class="chip" style="color:{fg};background:{bg}">{label}</span>'


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _footer(report: MonitorReport) -> str:
    th = report.settings["thresholds"]
    return (
        '<p class="muted" style="margin-top:28px">Thresholds: '
        + ", ".join(f"{k} {v}" for k, v in th.items() if v is not None)
        + f"; min_rows {report.settings['min_rows']}. A statistic counts only above its "
        "threshold and beyond sampling noise. Generated by mlx monitor.</p>"
    )

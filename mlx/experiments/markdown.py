"""``mlx diff --markdown``: the comparison as a PR comment or a step summary."""

from __future__ import annotations

from typing import Any

from mlx.experiments.diff import DiffResult


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return f"`{value}`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def arrow(row: dict[str, Any]) -> str:
    return "" if row.get("better") is None else (" ▲" if row["better"] else " ▼")


def delta_text(row: dict[str, Any]) -> str:
    delta = row.get("delta")
    return "" if delta is None else f"{delta:+.4g}{arrow(row)}"


def render_diff_markdown(result: DiffResult) -> str:
    a, b = result.a, result.b
    lines = [f"## mlx diff: `{a.ref}` → `{b.ref}`", ""]
    lines.append(f"A: {a.label}{_stages(a.stages)} · B: {b.label}{_stages(b.stages)}")
    if result.same_model:
        lines += ["", "Both sides are the same model (identical ONNX md5)."]
    lines.append("")
    if result.metrics:
        source = (
            "test set (`mlx eval`)"
            if result.metrics_from == "eval"
            else "training validation split"
        )
        lines += [
            f"### Metrics ({source})",
            "",
            "| metric | A | B | change |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {m['metric']} | {_fmt(m['a'])} | {_fmt(m['b'])} | {delta_text(m)} |"
            for m in result.metrics
        ]
        lines.append("")
    _kv_section(lines, "Params", result.params)
    _kv_section(lines, "Config (`mlops.yaml`)", result.config)
    code = result.code
    if code.get("commits"):
        lines += [f"### Code: {code['ahead']} commit(s) in `{code['range']}`", ""]
        lines += [f"- `{c['commit']}` {c['subject']}" for c in code["commits"]]
        if code["ahead"] > len(code["commits"]):
            lines.append(f"- ... and {code['ahead'] - len(code['commits'])} more")
        lines.append("")
    _data_section(lines, result.data)
    feats = result.features
    if feats["added"] or feats["removed"] or feats["changed"]:
        lines += ["### Features", ""]
        if feats["added"]:
            lines.append("- added: " + ", ".join(f"`{f}`" for f in feats["added"]))
        if feats["removed"]:
            lines.append("- removed: " + ", ".join(f"`{f}`" for f in feats["removed"]))
        for c in feats["changed"]:
            lines.append(
                f"- `{c['feature']}` changed: {_fmt({k: v for k, v in c.items() if k != 'feature'})}"
            )
        lines.append("")
    if result.slices:
        worst = sorted(
            result.slices, key=lambda r: (r["better"] is not False, -abs(r["delta"] or 0))
        )[:15]
        lines += [
            "### Slices (largest changes)",
            "",
            "| slice | metric | A | B | change |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {s['slice']} | {s['metric']} | {_fmt(s['a'])} | {_fmt(s['b'])} | {delta_text(s)} |"
            for s in worst
        ]
        lines.append("")
    if result.importance:
        lines += [
            "### Feature importance (share of gain)",
            "",
            "| feature | A | B | change |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['feature']} | {r['a']:.3f} | {r['b']:.3f} | {r['delta']:+.3f} |"
            for r in result.importance
        ]
        lines.append("")
    _kv_section(lines, "Packages", result.packages)
    for note in result.notes:
        lines.append(f"> {note}")
    return "\n".join(lines).rstrip() + "\n"


def _stages(stages: list[str]) -> str:
    return f" ({', '.join('#' + s for s in stages)})" if stages else ""


def _kv_section(lines: list[str], title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    lines += [f"### {title}", "", "| key | A | B |", "|---|---|---|"]
    lines += [f"| `{r['key']}` | {_fmt(r['a'])} | {_fmt(r['b'])} |" for r in rows]
    lines.append("")


def _data_section(lines: list[str], data: dict[str, Any]) -> None:
    da, db = data["a"], data["b"]
    if not da and not db:
        return
    if data["same"]:
        lines += [
            f"### Training data: unchanged (`{da.get('path')}`, md5 `{str(da.get('md5'))[:8]}`)",
            "",
        ]
        return
    lines += ["### Training data", "", "| | A | B |", "|---|---|---|"]
    for key in ("path", "md5", "rows", "test_md5"):
        va, vb = da.get(key), db.get(key)
        if va is None and vb is None:
            continue
        if key.endswith("md5"):
            va, vb = str(va)[:8] if va else None, str(vb)[:8] if vb else None
        lines.append(f"| {key} | {_fmt(va)} | {_fmt(vb)} |")
    lines.append("")
    shifted = [s for s in data["shift"] if s["level"] != "none"]
    if data["shift"]:
        lines += [
            f"Distribution shift, B against A ({len(shifted)} of {len(data['shift'])} features moved):",
            "",
            "| feature | PSI | W1 (σ) | level |",
            "|---|---:|---:|---|",
        ]
        lines += [
            f"| {s['feature']} | {s['psi']:.3f} | {_fmt(s.get('wasserstein'))} | {s['level']} |"
            for s in data["shift"][:15]
        ]
        lines.append("")

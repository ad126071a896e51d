"""The markdown eval report: for `$GITHUB_STEP_SUMMARY`, a PR comment, or a person."""

from __future__ import annotations

from typing import Any

from mlx.metrics import HIGHER_IS_BETTER


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_markdown(result: dict[str, Any], plots_prefix: str = "plots/") -> str:
    name = result["model"]["name"]
    verdict = "✅ passed" if result["passed"] else "❌ failed"
    lines = [f"## mlx eval: `{name}` {verdict}", ""]
    lines.append(
        f"Model md5 `{result['model']['md5'][:12]}` · data `{result['data']['path']}` "
        f"(md5 `{result['data']['md5'][:12]}`) · {result['data']['test_rows']} test rows"
    )
    lines.append("")
    baseline = result.get("baseline")
    if baseline:
        label = baseline.get("version") or (baseline.get("commit") or "")[:10]
        lines += [f"Baseline: `{baseline['ref']}`" + (f" ({label})" if label else ""), ""]
        lines += ["| metric | candidate | baseline | change |", "|---|---:|---:|---:|"]
        for key, value in result["metrics"].items():
            base = baseline["metrics"].get(key)
            change = ""
            if base is not None:
                delta = value - base
                better = (delta > 0) == HIGHER_IS_BETTER.get(key, True) if delta else None
                arrow = "" if better is None else (" ▲" if better else " ▼")
                change = f"{delta:+.4f}{arrow}"
            lines.append(f"| {key} | {_fmt(value)} | {_fmt(base)} | {change} |")
    else:
        lines += ["No baseline model (change gates skipped).", ""]
        lines += ["| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in result["metrics"].items()]
    lines.append("")
    gates = result["gates"]
    if gates["results"] or gates["skipped"]:
        lines += [
            "### Gates",
            "",
            "| | metric | rule | threshold | value | detail |",
            "|---|---|---|---:|---:|---|",
        ]
        for g in gates["results"]:
            mark = "✅" if g["passed"] else "❌"
            lines.append(
                f"| {mark} | {g['metric']} | {g['rule']} | {g['threshold']:g} | {_fmt(g['value'])} | {g['reason']} |"
            )
        for s in gates["skipped"]:
            lines.append(f"| ⏭️ | {s} | skipped | | | no baseline |")
        lines.append("")
    lines += ["### Checks", ""]
    for key, check in result["checks"].items():
        lines.append(
            f"- {'✅' if check['passed'] else '❌'} {key.replace('_', ' ')}: {check['reason']}"
        )
    lines.append("")
    if result.get("slices"):
        lines += ["### Slices", ""]
        for column, groups in result["slices"].items():
            if "error" in groups:
                lines.append(f"- {column}: {groups['error']}")
                continue
            metric_names = sorted({k for g in groups.values() for k in g if k != "rows"})
            lines += [
                f"**{column}**",
                "",
                "| value | rows | " + " | ".join(metric_names) + " |",
                "|---|---:|" + "---:|" * len(metric_names),
            ]
            for key, g in groups.items():
                lines.append(
                    f"| {key} | {g['rows']} | "
                    + " | ".join(_fmt(g.get(m)) for m in metric_names)
                    + " |"
                )
            lines.append("")
    if result.get("plots"):
        lines += ["### Plots", ""]
        lines += [f"![{name}]({plots_prefix}{p['png']})" for name, p in result["plots"].items()]
        lines.append("")
    return "\n".join(lines)

"""Inline SVG charts of reference vs current distributions (no JS, no external assets).

Numeric features are drawn as densities on equal-reference-mass bins taken from the
profile's percentile grid (1st to 99th percentile, 5% of the reference per bin), so the
shape is right without the raw data; discrete features (few distinct values) and
categorical ones as paired horizontal bars. Every mark carries a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from itertools import pairwise
from typing import Any

REF_COLOR = "#94a3b8"
CUR_COLOR = "#2563eb"
WIDTH, HEIGHT = 380, 150
PAD_L, PAD_R, PAD_T, PAD_B = 8, 8, 8, 22
DISCRETE_MAX = 25
TOP_CATEGORIES = 10
DENSITY_STEPS = (1, *range(5, 100, 5), 99)

Scale = Callable[[float], float]  # data value -> SVG coordinate


def feature_chart(kind: str, ref: dict[str, Any], stats: dict[str, Any]) -> str:
    """The chart for one feature (or the score); empty string when nothing to draw."""
    if kind == "categorical":
        return _category_chart(ref, stats)
    grid = ref.get("grid") or []
    if not grid:
        return ""
    cur_cdf = stats.get("cdf")
    if len(grid) <= DISCRETE_MAX and len(grid) < 101:
        return _discrete_chart(ref, cur_cdf)
    return _density_chart(ref, cur_cdf)


def _density_chart(ref: dict[str, Any], cur_cdf: list[float] | None) -> str:
    grid, ref_cdf = ref["grid"], ref["cdf"]
    idx = sorted({min(p, len(grid) - 1) for p in DENSITY_STEPS})
    edges = [grid[i] for i in idx]
    keep = [0] + [k for k in range(1, len(edges)) if edges[k] > edges[k - 1]]
    idx, edges = [idx[k] for k in keep], [edges[k] for k in keep]
    if len(edges) < 2:
        return _discrete_chart(ref, cur_cdf)
    series = [("reference", REF_COLOR, _densities(edges, [ref_cdf[i] for i in idx]))]
    if cur_cdf:
        series.append(("current", CUR_COLOR, _densities(edges, [cur_cdf[i] for i in idx])))
    x0, x1 = edges[0], edges[-1]
    ymax = max(max(h) for _, _, h in series) or 1.0
    sx = _scale(x0, x1, PAD_L, WIDTH - PAD_R)
    sy = _scale(0, ymax * 1.08, HEIGHT - PAD_B, PAD_T)
    parts = [_axis_x(x0, x1, sx)]
    for label, color, heights in series:
        pts = [f"{sx(x0):.1f},{sy(0):.1f}"]
        for lo, hi, h in zip(edges[:-1], edges[1:], heights, strict=True):
            pts += [f"{sx(lo):.1f},{sy(h):.1f}", f"{sx(hi):.1f},{sy(h):.1f}"]
        pts.append(f"{sx(x1):.1f},{sy(0):.1f}")
        fill = 0.55 if label == "reference" else 0.18
        parts.append(
            f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="{fill}" '
            f'stroke="{color}" stroke-width="{1 if label == "reference" else 1.8}">'
            f"<title>{label}</title></polygon>"
        )
    return _svg(parts, "density of reference and current values (1st to 99th percentile)")


def _densities(edges: list[float], cdf: list[float]) -> list[float]:
    return [
        max(b - a, 0.0) / (hi - lo)
        for (lo, hi), (a, b) in zip(pairwise(edges), pairwise(cdf), strict=True)
    ]


def _discrete_chart(ref: dict[str, Any], cur_cdf: list[float] | None) -> str:
    grid, cdf = ref["grid"], ref["cdf"]
    ref_mass = _masses(cdf)
    rows: list[tuple[str, float, float | None]] = [
        (f"{g:g}", r, None) for g, r in zip(grid, ref_mass, strict=True)
    ]
    if cur_cdf:
        cur_mass = _masses(cur_cdf)
        rows = [(label, r, c) for (label, r, _), c in zip(rows, cur_mass, strict=True)]
    return _bars(
        rows,
        "share of values at each reference value (current values in between "
        "count towards the next one up)",
    )


def _masses(cdf: list[float]) -> list[float]:
    return [cdf[0]] + [b - a for a, b in pairwise(cdf)]


def _category_chart(ref: dict[str, Any], stats: dict[str, Any]) -> str:
    ref_freqs: dict[str, float] = ref.get("freqs") or {}
    cur: dict[str, float] = stats.get("freqs") or {}
    names = sorted(ref_freqs, key=lambda k: (-max(ref_freqs[k], cur.get(k, 0.0)), k))
    top, rest = names[:TOP_CATEGORIES], names[TOP_CATEGORIES:]
    rows = [(name, ref_freqs[name], cur.get(name) if cur else None) for name in top]
    if rest:
        rows.append(
            (
                f"{len(rest)} more",
                sum(ref_freqs[k] for k in rest),
                sum(cur.get(k, 0.0) for k in rest) if cur else None,
            )
        )
    if cur.get("(unseen)"):
        rows.append(("(unseen)", 0.0, cur["(unseen)"]))
    return _bars(rows, "share of non-missing values per category")


def _bars(rows: list[tuple[str, float, float | None]], title: str) -> str:
    row_h, label_w = 18, 120
    height = PAD_T + row_h * len(rows) + PAD_B
    vmax = max([r for _, r, _ in rows] + [c or 0.0 for _, _, c in rows] + [1e-9])
    sx = _scale(0, vmax * 1.15, label_w, WIDTH - PAD_R - 40)
    parts = []
    for i, (label, r, c) in enumerate(rows):
        y = PAD_T + i * row_h
        short = label if len(label) <= 18 else label[:17] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" class="lbl">'
            f"{escape(short)}<title>{escape(label)}</title></text>"
        )
        parts.append(_bar(sx, label_w, y + 2, 7, r, REF_COLOR, f"{label}: reference {r:.1%}"))
        if c is not None:
            parts.append(_bar(sx, label_w, y + 9, 7, c, CUR_COLOR, f"{label}: current {c:.1%}"))
        value = c if c is not None else r
        parts.append(f'<text x="{sx(value) + 4:.1f}" y="{y + 13}" class="val">{value:.1%}</text>')
    return _svg(parts, title, height)


def _bar(sx: Scale, x0: float, y: float, h: float, value: float, color: str, tip: str) -> str:
    w = max(sx(value) - x0, 0.0 if value == 0 else 1.0)
    return (
        f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{h}" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _axis_x(x0: float, x1: float, sx: Scale) -> str:
    y = HEIGHT - PAD_B
    ticks = _nice_ticks(x0, x1)
    out = [f'<line x1="{PAD_L}" y1="{y}" x2="{WIDTH - PAD_R}" y2="{y}" class="axis"/>']
    for t in ticks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" class="axis"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 15}" text-anchor="middle" class="val">{t:g}</text>')
    return "".join(out)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _scale(d0: float, d1: float, r0: float, r1: float) -> Scale:
    span = (d1 - d0) or 1.0
    return lambda v: r0 + (v - d0) / span * (r1 - r0)


def _svg(parts: list[str], title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img"><title>{escape(title)}</title>' + "".join(parts) + "</svg>"
    )

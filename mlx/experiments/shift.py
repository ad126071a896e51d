"""Distribution shift between two training sets, from their reference profiles alone.

A profile (see :mod:`mlx.monitor.profile`) keeps each numeric feature's decile bins and
its empirical CDF on the percentile grid, and each categorical feature's frequencies.
That is enough to compare two training sets without either file:

- numeric: B's CDF, read off its own grid as a step function, gives B's share of each of
  A's decile bins, hence PSI (A the reference); W1 is the area between the two step
  CDFs over the union of the grids, in A's standard deviations (the 1% grids bound its
  resolution);
- categorical: PSI over the union of the categories' frequencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PSI_MODERATE, PSI_MAJOR = 0.1, 0.25


def profile_shift(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per feature present in both profiles, the largest PSI first."""
    rows = []
    for name in [n for n in a if n in b]:
        pa, pb = a[name], b[name]
        if pa.get("kind") != pb.get("kind"):
            continue
        row = _numeric(pa, pb) if pa["kind"] == "numeric" else _categorical(pa, pb)
        if row is None:
            continue
        row["feature"] = name
        row["kind"] = pa["kind"]
        row["null_rate"] = [pa.get("null_rate"), pb.get("null_rate")]
        psi = row["psi"]
        row["level"] = (
            "major" if psi >= PSI_MAJOR else "moderate" if psi >= PSI_MODERATE else "none"
        )
        rows.append(row)
    rows.sort(key=lambda r: r["psi"], reverse=True)
    return rows


def _step_cdf(grid: np.ndarray, cdf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The step CDF (``cdf[i]`` on ``[grid[i], grid[i+1])``, 0 before ``grid[0]``) at ``x``."""
    import numpy as np

    idx = np.searchsorted(grid, x, side="right") - 1
    return np.where(idx >= 0, cdf[np.clip(idx, 0, None)], 0.0)


def _numeric(pa: dict[str, Any], pb: dict[str, Any]) -> dict[str, Any] | None:
    import numpy as np

    from mlx.monitor.stats import psi

    if not pa.get("grid") or not pb.get("grid"):
        return None
    ga, ca = np.asarray(pa["grid"], float), np.asarray(pa["cdf"], float)
    gb, cb = np.asarray(pb["grid"], float), np.asarray(pb["cdf"], float)
    edges = np.asarray(pa.get("edges") or [], float)
    below = _step_cdf(gb, cb, edges)
    freqs_b = np.diff(np.concatenate(([0.0], below, [1.0])))
    freqs_a = np.asarray(pa.get("freqs") or [1.0], float)
    grid = np.union1d(ga, gb)
    gap = np.abs(_step_cdf(ga, ca, grid) - _step_cdf(gb, cb, grid))[:-1]
    area = float(np.sum(gap * np.diff(grid))) if grid.size > 1 else 0.0
    std = pa.get("std") or 0.0
    return {
        "psi": round(psi(freqs_a, freqs_b), 4),
        "wasserstein": round(area / std, 4) if std > 0 else None,
        "mean": [pa.get("mean"), pb.get("mean")],
        "mean_shift": round((pb["mean"] - pa["mean"]) / std, 4)
        if std > 0 and pa.get("mean") is not None and pb.get("mean") is not None
        else None,
    }


def _categorical(pa: dict[str, Any], pb: dict[str, Any]) -> dict[str, Any] | None:
    import numpy as np

    from mlx.monitor.stats import psi

    fa, fb = pa.get("freqs") or {}, pb.get("freqs") or {}
    names = sorted(set(fa) | set(fb))
    if not names:
        return None
    va = np.asarray([fa.get(n, 0.0) for n in names], float)
    vb = np.asarray([fb.get(n, 0.0) for n in names], float)
    return {
        "psi": round(psi(va, vb), 4),
        "categories_added": sorted(set(fb) - set(fa)),
        "categories_removed": sorted(set(fa) - set(fb)),
    }

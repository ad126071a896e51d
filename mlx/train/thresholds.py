"""Numeric split thresholds: LightGBM's float64 values in a float32 tree ensemble.

The served model takes FP32 inputs and ONNX's TreeEnsemble compares in float32, while
LightGBM compares float64 values against float64 thresholds. onnxmltools rounds each
threshold to the nearest float32, which breaks in two common cases:

- float32 source data: two training values one float32 ulp apart put LightGBM's
  threshold (their midpoint) between them; "nearest" may round it up onto the upper
  value, which then goes left in ONNX and right in LightGBM;
- LightGBM's thresholds just above a training value (``nextafter(a)``) must stay on the
  float32 of that value, or every row holding ``a`` is misrouted.

So each threshold is re-chosen from the training values around it: with ``a`` the
largest training value ≤ the threshold and ``b`` the smallest above, any float32 ``t``
with ``f32(a) ≤ t < f32(b)`` routes every training value exactly as LightGBM does. Among
those, which one also routes *unseen* values right depends on the data:

- float32 data (every training value is a float32): the largest float32 ≤ ``τ``, since
  for any float32 ``x``, ``x ≤ τ`` exactly when ``x ≤ floor32(τ)``; "nearest" misroutes a
  float32 just above ``τ`` when it rounds up (found at 2M rows);
- float64 data (decimal values such as 0.5426): the nearest float32 first. LightGBM puts
  thresholds just above a value ``m`` halfway between two training values, and a held-out
  row holding ``m`` must go left: ``f32(m)`` is the nearest float32 to ``τ``, which the
  floor can miss.

When ``f32(a) == f32(b)`` no float32 threshold can separate them; the nearest is kept and
the parity check reports the rows.

Two edges of the float32 line: LightGBM writes a split between NaN-or-not as threshold
±1e300 (beyond float32; casting it overflowed with a numpy warning and put +inf on the
wrong side), so those map to the largest float32 ≤ it; and LightGBM predicts any
``|x| <= kZeroThreshold`` as 0.0, so a threshold inside that band is placed at its edge
on the side where 0.0 goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

ZERO_BAND = 1e-34  # LightGBM writes splits at zero as ±1e-35 (its kZeroThreshold)
K_ZERO = float(np.float32(1e-35))  # kZeroThreshold: LightGBM predicts |x| <= it as 0.0


def split_thresholds(booster: lgb.Booster) -> dict[int, set[float]]:
    """Numeric split thresholds per feature index, as LightGBM wrote them."""
    from mlx.train import booster_text

    return booster_text.read(booster).numeric_thresholds()


def neighbours(threshold: float, values: np.ndarray) -> tuple[float | None, float | None]:
    """The training values on each side: largest ≤ threshold, smallest > threshold."""
    i = int(np.searchsorted(values, threshold, side="right"))
    below = float(values[i - 1]) if i > 0 else None
    above = float(values[i]) if i < len(values) else None
    return below, above


F32_MAX = float(np.finfo(np.float32).max)


def floor32(threshold: float) -> np.float32:
    """The largest float32 ≤ ``threshold``, infinities included: LightGBM writes
    thresholds up to ±1e300 (its ``AvoidInf``), far outside float32's range, and a cast
    would overflow to ±inf (numpy warns) and route +inf the wrong way."""
    f32 = np.float32
    if threshold >= F32_MAX:
        return f32(F32_MAX)
    if threshold < -F32_MAX:
        return f32(-np.inf)
    value = f32(threshold)
    return value if float(value) <= threshold else np.nextafter(value, f32(-np.inf))


def nearest32(threshold: float) -> np.float32:
    """The nearest float32, clamped to the finite range (no overflow warning)."""
    return np.float32(min(max(threshold, -F32_MAX), F32_MAX))


def next_up32(value: np.float32) -> np.float32:
    """The next float32 above ``value``; +inf above the largest finite one."""
    f32 = np.float32
    return f32(np.inf) if float(value) >= F32_MAX else np.nextafter(value, f32(np.inf))


def choose_float32(threshold: float, values: np.ndarray | None) -> float:
    """The float32 threshold that routes every training value as LightGBM does."""
    if abs(threshold) >= F32_MAX:
        return float(floor32(threshold))
    if abs(threshold) <= K_ZERO:  # the whole band goes where 0.0 goes
        band = np.float32(K_ZERO)
        return float(band if threshold >= 0 else np.nextafter(-band, np.float32(-np.inf)))
    nearest = nearest32(threshold)
    if abs(threshold) <= ZERO_BAND or values is None or not len(values):
        return float(nearest)
    down = floor32(threshold)
    up = next_up32(down)
    below, above = neighbours(threshold, values)
    lo = float(nearest32(below)) if below is not None else -np.inf
    hi = float(nearest32(above)) if above is not None else np.inf
    float32_data = bool(np.all(values.astype(np.float32) == values))
    order = (down, nearest, up) if float32_data else (nearest, down, up)
    for candidate in order:
        if lo <= float(candidate) < hi:
            return float(candidate)
    return float(nearest)


def fix_tree_thresholds(graph, booster: lgb.Booster, values: dict[int, np.ndarray]) -> int:
    """Rewrite ``nodes_values`` of the converted TreeEnsemble nodes (see module doc).

    Converted nodes are matched to LightGBM thresholds by feature and nearest float32;
    a node two different thresholds map onto with different choices is left alone.
    Returns how many nodes changed.
    """
    chosen: dict[tuple[int, float], set[float]] = {}
    for feature, thresholds in split_thresholds(booster).items():
        for t in thresholds:
            key = (feature, float(nearest32(t)))
            chosen.setdefault(key, set()).add(choose_float32(t, values.get(feature)))
    changed = 0
    for node in graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        modes = attrs["nodes_modes"].strings
        features = attrs["nodes_featureids"].ints
        node_values = attrs["nodes_values"].floats
        for i, (mode, feature) in enumerate(zip(modes, features, strict=True)):
            if mode != b"BRANCH_LEQ":
                continue
            options = chosen.get((feature, float(np.float32(node_values[i]))), set())
            if len(options) == 1:
                (value,) = options
                if value != node_values[i]:
                    node_values[i] = value
                    changed += 1
    return changed


def probe_values(threshold: float, values: np.ndarray | None) -> list[float]:
    """Values to place a feature at for the parity check around one threshold: the
    training values on each side of it, the threshold itself when a float32 holds it
    exactly, and the two float32 values either side of it when the export could use the
    float32 below (LightGBM's ±1e-35 zero band is probed at 0.0).

    With float64 data whose values on both sides of the threshold share its float32,
    no float32 threshold routes every value as LightGBM does: the export keeps the
    training values right (see the module doc) and those float32 values are not probed.
    """
    if abs(threshold) <= ZERO_BAND:
        return [0.0, K_ZERO, -K_ZERO]
    down = floor32(threshold)
    out = [threshold] if float(nearest32(threshold)) == threshold else []
    if choose_float32(threshold, values) == float(down):
        out += [float(v) for v in (down, next_up32(down)) if np.isfinite(v)]
    if values is not None and len(values):
        out += [v for v in neighbours(threshold, values) if v is not None]
    return list(dict.fromkeys(out))


def training_values(frame, features, booster: lgb.Booster) -> dict[int, np.ndarray]:
    """Per numeric feature index, the training values next to its split thresholds
    (the largest ≤ and the smallest > each one), sorted.

    That is all :func:`neighbours` needs: one sort of the column (numpy's vectorised sort
    takes ~1.5 ms per 200k values, far less than searching every value among the
    thresholds) and a search of the thresholds in it."""
    out = {}
    for idx, thresholds in split_thresholds(booster).items():
        f = features[idx]
        if f.kind != "numeric":
            continue
        col = np.asarray(frame[f.name], dtype=np.float64)
        col = np.sort(col[np.isfinite(col)])
        if not len(col):
            continue
        at = np.searchsorted(col, np.array(sorted(thresholds)), side="right")
        below = col[at[at > 0] - 1]  # largest v <= t
        above = col[at[at < len(col)]]  # smallest v > t
        out[idx] = np.unique(np.concatenate([below, above]))
    return out

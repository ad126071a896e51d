"""Evaluation gates with TFX semantics: value thresholds and change thresholds.

A value threshold bounds the metric (``min``/``max``). A change threshold bounds how
much worse the candidate may be than the baseline model on the same rows, in the
metric's own direction (``max_degradation``, ``max_relative_degradation``); with no
baseline it is skipped, and the result says so. A gated metric that could not be
computed is a failure, never a silent pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlx.config.sections import GateSpec
from mlx.metrics import HIGHER_IS_BETTER


@dataclass
class GateResult:
    metric: str
    rule: str  # min | max | max_degradation | max_relative_degradation
    threshold: float
    value: float | None
    baseline: float | None
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_gates(
    gates: dict[str, GateSpec], metrics: dict[str, float], baseline: dict[str, float] | None
) -> tuple[list[GateResult], list[str]]:
    """Every gate's result, and the change gates skipped for want of a baseline."""
    results: list[GateResult] = []
    skipped: list[str] = []
    for metric, spec in gates.items():
        value = metrics.get(metric)
        base = baseline.get(metric) if baseline else None
        higher = HIGHER_IS_BETTER[metric]
        for rule in ("min", "max", "max_degradation", "max_relative_degradation"):
            threshold = getattr(spec, rule)
            if threshold is None:
                continue
            if rule.startswith("max_") and rule != "max" and baseline is None:
                skipped.append(f"{metric}: {rule} (no baseline model)")
                continue
            if value is None:
                results.append(
                    GateResult(
                        metric,
                        rule,
                        threshold,
                        None,
                        base,
                        False,
                        f"{metric} could not be computed",
                    )
                )
                continue
            if rule == "min":
                ok = value >= threshold
                results.append(
                    GateResult(
                        metric,
                        rule,
                        threshold,
                        value,
                        base,
                        ok,
                        f"{value:.4g} {'≥' if ok else '<'} {threshold:g}",
                    )
                )
            elif rule == "max":
                ok = value <= threshold
                results.append(
                    GateResult(
                        metric,
                        rule,
                        threshold,
                        value,
                        base,
                        ok,
                        f"{value:.4g} {'≤' if ok else '>'} {threshold:g}",
                    )
                )
            elif base is None:
                results.append(
                    GateResult(
                        metric, rule, threshold, value, None, False, f"baseline has no {metric}"
                    )
                )
            else:
                worse = (base - value) if higher else (value - base)
                amount = worse if rule == "max_degradation" else worse / max(abs(base), 1e-12)
                ok = amount <= threshold
                unit = "" if rule == "max_degradation" else " (relative)"
                results.append(
                    GateResult(
                        metric,
                        rule,
                        threshold,
                        value,
                        base,
                        ok,
                        f"worse by {amount:.4g}{unit} vs baseline {base:.4g}; allowed {threshold:g}",
                    )
                )
    return results, skipped

"""Judging: statistics + thresholds → per-feature status and the dataset verdict.

Per feature, every check is a value against an effective threshold (the configured one,
raised to the sampling-noise floor where the statistic has one). ``severity`` is the
largest value/threshold ratio, so > 1 means failed and features rank by it.

Statuses, most severe first: ``missing`` (column absent), ``quality`` (a data-quality
check failed: type, null/inf rate, range, unseen categories), ``drift`` (a drift
statistic crossed), ``insufficient`` (fewer than ``min_rows`` values: not judged),
``ok``. The first three count as drifted in the importance-weighted share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlx.config.sections import MonitorThresholds
from mlx.monitor import stats as st

STATUS_ORDER = ("missing", "quality", "drift", "insufficient", "ok")
DRIFTED = frozenset({"missing", "quality", "drift"})


@dataclass
class Check:
    name: str  # psi, ks, wasserstein, contingency, unseen, null_rate, inf_rate, range, type
    kind: str  # "drift" or "quality"
    value: float | None
    threshold: float | None
    failed: bool
    message: str

    @property
    def ratio(self) -> float:
        if self.value is None or not self.threshold:
            return 0.0
        ratio = self.value / self.threshold
        return ratio if self.failed else min(ratio, 0.999)  # gated by noise: not > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FeatureResult:
    name: str
    kind: str  # numeric | categorical | score
    importance: float
    status: str = "ok"
    checks: list[Check] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)  # the feature's profile entry

    @property
    def drifted(self) -> bool:
        return self.status in DRIFTED

    @property
    def severity(self) -> float | None:
        """Largest value/threshold ratio; None for a missing column (ranks first)."""
        if self.status == "missing":
            return None
        return max((c.ratio for c in self.checks), default=0.0)

    @property
    def reasons(self) -> list[str]:
        return [c.message for c in self.checks if c.failed]

    def sort_key(self) -> tuple[int, float, float, str]:
        sev = self.severity
        return (
            STATUS_ORDER.index(self.status),
            -(sev if sev is not None else 0.0),
            -self.importance,
            self.name,
        )

    def to_dict(self, with_reference: bool = False) -> dict[str, Any]:
        out = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "drifted": self.drifted,
            "severity": _r(self.severity),
            "importance": _r(self.importance),
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
            "stats": {k: v for k, v in self.stats.items() if k != "cdf"},
        }
        if with_reference:
            out["reference"] = self.reference
        return out


def judge_numeric(
    result: FeatureResult,
    ref: dict[str, Any],
    th: MonitorThresholds,
    min_rows: int,
    psi_limit: float | None = None,
) -> FeatureResult:
    """Fill ``result.checks`` and ``status`` for a numeric feature (or the score)."""
    s = result.stats
    alpha = th.noise_pvalue
    if s["rows"] < min_rows:
        return _finish(result, enough=False)
    _rate_checks(result, ref, th)
    count = s["count"]
    if count and ref.get("grid"):
        outside = (s["below_min"] + s["above_max"]) / count
        lo, hi = _num(ref["min"]), _num(ref["max"])
        result.checks.append(
            _check(
                "range",
                "quality",
                outside,
                th.out_of_range_share,
                f"{outside:.1%} of values outside the training range [{lo}, {hi}]",
            )
        )
    if count < min_rows or not ref.get("grid"):
        return _finish(result, enough=False)
    n_ref = ref["count"]
    psi_th = max(psi_limit or th.psi, st.psi_noise(s["bins"], n_ref, count, alpha))
    ks_th = max(th.ks, st.ks_noise(n_ref, count, alpha))
    w_th = max(th.wasserstein, st.wasserstein_noise(s["wasserstein_unit"], n_ref, count, alpha))
    result.checks += [
        _check("psi", "drift", s["psi"], psi_th, f"PSI {s['psi']:.3f} > {psi_th:.3f}"),
        _check("ks", "drift", s["ks"], ks_th, f"KS {s['ks']:.3f} > {ks_th:.3f}"),
        _check(
            "wasserstein",
            "drift",
            s["wasserstein"],
            w_th,
            f"Wasserstein {s['wasserstein']:.3f}σ > {w_th:.3f}σ (mean {s['mean_shift']:+.2f}σ)",
        ),
    ]
    return _finish(result, enough=True)


def judge_categorical(
    result: FeatureResult, ref: dict[str, Any], th: MonitorThresholds, min_rows: int
) -> FeatureResult:
    """Fill ``result.checks`` and ``status`` for a categorical feature."""
    s = result.stats
    if s["rows"] < min_rows:
        return _finish(result, enough=False)
    _rate_checks(result, ref, th)
    if s["count"] < min_rows or "psi" not in s:
        return _finish(result, enough=False)
    examples = ", ".join(f"{k!r} ×{v}" for k, v in list(s["unseen"].items())[:3])
    result.checks.append(
        _check(
            "unseen",
            "quality",
            s["unseen_share"],
            th.unseen_share,
            f"{s['unseen_share']:.1%} unseen categories ({examples})",
        )
    )
    significant = s["pvalue"] < th.noise_pvalue
    check = _check(
        "psi",
        "drift",
        s["psi"],
        th.psi,
        f"PSI {s['psi']:.3f} > {th.psi:.3f} (contingency test p = {s['pvalue']:.1e})",
        gate=significant,
    )
    result.checks.append(check)
    return _finish(result, enough=True)


def _rate_checks(result: FeatureResult, ref: dict[str, Any], th: MonitorThresholds) -> None:
    s = result.stats
    rises = [("null_rate", "null rate")]
    if result.kind != "categorical":
        rises.append(("inf_rate", "inf rate"))
    for key, label in rises:
        before, now = ref.get(key, 0.0), s[key]
        result.checks.append(
            _check(
                key,
                "quality",
                now - before,
                th.null_rate_increase,
                f"{label} {before:.1%} → {now:.1%}",
            )
        )


def _check(
    name: str, kind: str, value: float, threshold: float, message: str, gate: bool = True
) -> Check:
    """``gate`` False: the value may exceed the threshold but is within sampling noise."""
    return Check(name, kind, _r(value), _r(threshold), bool(value > threshold and gate), message)


def _finish(result: FeatureResult, enough: bool) -> FeatureResult:
    failed = {c.kind for c in result.checks if c.failed}
    if "quality" in failed:
        result.status = "quality"
    elif "drift" in failed:
        result.status = "drift"
    elif not enough:
        result.status = "insufficient"
    else:
        result.status = "ok"
    return result


def missing(name: str, kind: str, importance: float) -> FeatureResult:
    check = Check("missing", "quality", None, None, True, "column missing from the current data")
    return FeatureResult(name, kind, importance, status="missing", checks=[check])


# --- the dataset --------------------------------------------------------------------


@dataclass
class Verdict:
    drift: bool
    status: str  # drift | quality | insufficient | ok
    drift_share: float
    bound: float
    drifted: list[str]
    prediction_drift: bool
    performance_drift: bool
    quality_failed: bool
    reasons: list[str]

    @property
    def ok(self) -> bool:
        return not self.drift and not self.quality_failed

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["drift_share"] = _r(self.drift_share)
        return out


def dataset_verdict(
    features: list[FeatureResult],
    prediction: FeatureResult | None,
    performance_drift: bool,
    th: MonitorThresholds,
    schema_errors: list[str],
) -> Verdict:
    """Importance-weighted share of drifted features, prediction drift, performance."""
    judged = [f for f in features if f.status != "insufficient"]
    weights = {f.name: f.importance for f in judged}
    if judged and sum(weights.values()) <= 0:
        weights = {f.name: 1.0 for f in judged}
    total = sum(weights.values())
    drifted = [f for f in judged if f.drifted]
    share = sum(weights[f.name] for f in drifted) / total if total else 0.0
    prediction_drift = prediction is not None and prediction.status == "drift"
    reasons = []
    if judged and share >= th.drift_share:
        reasons.append(
            f"{share:.0%} of feature importance drifted (bound {th.drift_share:.0%}): "
            + ", ".join(f.name for f in sorted(drifted, key=FeatureResult.sort_key))
        )
    if prediction_drift and prediction is not None:
        reasons.append("prediction drift: " + "; ".join(prediction.reasons))
    if performance_drift:
        reasons.append("live metrics degraded against training")
    drift = bool(reasons)
    quality_failed = bool(schema_errors) or any(
        f.status in ("missing", "quality") for f in features
    )
    if drift:
        status = "drift"
    elif quality_failed:
        status = "quality"
    elif not judged:
        status = "insufficient"
    else:
        status = "ok"
    return Verdict(
        drift=drift,
        status=status,
        drift_share=share,
        bound=th.drift_share,
        drifted=[f.name for f in sorted(drifted, key=FeatureResult.sort_key)],
        prediction_drift=prediction_drift,
        performance_drift=performance_drift,
        quality_failed=quality_failed,
        reasons=reasons + schema_errors,
    )


def _r(value: float | None, digits: int = 6) -> float | None:
    if value is None:
        return None
    return float(f"{value:.{digits}g}")


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"

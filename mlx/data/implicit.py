"""Checks for data when the config declares no rules (no ``data.columns``, no schema file).

Two sources of truth remain, in this order:

1. **The trained model's schema**: the features its ``metadata.json`` records (kind,
   categorical domain) and its reference profile (each numeric feature's training
   range). A vanished column, a number column that now holds text, a category the model
   never saw and values far outside the training range fail, naming the model.
2. **The data's own consistency**: a column that is mostly numbers with a few strings
   (``"twelve"`` among floats) is a broken column, not a categorical one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlx.data.report import SAMPLE, Failure

if TYPE_CHECKING:
    import pandas as pd

    from mlx.metadata import ModelMetadata

RANGE_MARGIN = 0.5  # a value beyond min - 50% of the span (or max + 50%) fails
MOSTLY_NUMERIC = 0.9  # share of non-null values that parse as numbers


def model_schema_failures(
    frame: pd.DataFrame, meta: ModelMetadata, model_label: str
) -> list[Failure]:
    """Failures of ``frame`` against the schema the model at ``model_label`` recorded."""
    import pandas as pd

    profile = (meta.profile or {}).get("features") or {}
    out: list[Failure] = []
    by = f"the model {model_label}"
    for feature in meta.features:
        name, kind = feature.name, feature.kind
        if name not in frame.columns:
            out.append(Failure(name, "column present", 1, hint=f"{by} was trained with it"))
            continue
        col = frame[name]
        present = col[col.notna()]
        if kind == "numeric":
            as_num = pd.to_numeric(present, errors="coerce")
            bad = present[as_num.isna()]
            if len(bad):
                out.append(_sampled(name, "type numeric", bad, f"{by} takes numbers here"))
                continue
            stats = profile.get(name) or {}
            bounds = _range(stats)
            if bounds is not None:
                lo, hi = bounds
                far = present[(as_num < lo) | (as_num > hi)]
                if len(far):
                    hint = (
                        f"{by} was trained on [{stats['min']:g}, {stats['max']:g}]; "
                        f"allowed with margin: [{lo:g}, {hi:g}]"
                    )
                    out.append(_sampled(name, "in training range", far, hint))
        elif kind == "categorical":
            known = {str(c) for c in feature.categories or []}
            if not known:
                continue
            as_str = present.astype(str)
            new = present[~as_str.isin(known)]
            if len(new):
                hint = f"{by} knows {len(known)} categories; these are new"
                out.append(_sampled(name, "known category", new, hint))
    return out


def mixed_type_failures(frame: pd.DataFrame, skip: set[str]) -> list[Failure]:
    """Text columns whose values are mostly numbers: the strings are the failures."""
    import pandas as pd

    out: list[Failure] = []
    for name in frame.columns:
        if name in skip or pd.api.types.is_numeric_dtype(frame[name].dtype):
            continue
        present = frame[name][frame[name].notna()]
        if present.empty:
            continue
        # parse each distinct value once: to_numeric on every row of a 1M-row text column
        # cost 0.5 s; a categorical column has a few thousand distinct values at most
        counts = present.value_counts(sort=False, dropna=False)
        parsed = pd.to_numeric(pd.Series(counts.index, dtype=counts.index.dtype), errors="coerce")
        is_number = parsed.notna().to_numpy()
        numeric_share = float(counts.to_numpy()[is_number].sum()) / len(present)
        if MOSTLY_NUMERIC <= numeric_share < 1.0:
            bad = present[pd.to_numeric(present, errors="coerce").isna()]
            hint = (
                f"{numeric_share:.1%} of its values are numbers; the rest are text: if "
                "they mean missing, leave those cells empty; if the column is a category, "
                "list it under data.categorical"
            )
            out.append(_sampled(name, "one type (mixed numbers and text)", bad, hint))
    return out


def _range(stats: dict[str, Any]) -> tuple[float, float] | None:
    """The training range widened by ``RANGE_MARGIN`` of its span on each side."""
    lo, hi = stats.get("min"), stats.get("max")
    if lo is None or hi is None:
        return None
    span = float(hi) - float(lo) or max(abs(float(hi)), 1.0)
    return float(lo) - RANGE_MARGIN * span, float(hi) + RANGE_MARGIN * span


def _sampled(name: str, check: str, bad: pd.Series, hint: str) -> Failure:
    values = []
    for v in bad.unique()[:SAMPLE]:
        values.append(v.item() if hasattr(v, "item") else v)
    return Failure(
        name, check, int(len(bad)), values, [int(i) for i in bad.index[:SAMPLE]], hint=hint
    )

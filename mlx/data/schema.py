"""Data rules as pandera schemas: built from the config, read from a file, or inferred.

The config's inline ``data.columns`` and an optional pandera YAML file
(``data.schema``) combine into one ``DataFrameSchema``; inline rules win per column.
``infer_schema`` writes rules a person would accept: types, nullability, categorical
domains and numeric ranges widened by a margin and rounded (pandera's own
``infer_schema`` pins ranges to the exact observed min/max, so any new extreme fails).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlx.config.model import ColumnSpec, DataConfig

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

DTYPES = {
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "category": "str",
    "string": "str",
    "datetime": "datetime64[ns]",
}
STRING_TYPES = ("category", "string")
MAX_INFERRED_CATEGORIES = 50
RANGE_MARGIN = 0.1


def skip_data_synthesis() -> None:
    """Load pandera's data-synthesis module without hypothesis.

    pandera's first validation imports its synthesis strategies, and those import
    hypothesis whenever it is installed (beside schemathesis, say): 0.15–0.25 s of every
    validating command. mlx validates and never synthesizes, so the module is loaded
    with hypothesis unimportable for that one import. A process that already imported
    hypothesis (a test run) keeps it as it is."""
    import sys

    if "hypothesis" in sys.modules or "pandera.strategies.pandas_strategies" in sys.modules:
        return
    sys.modules["hypothesis"] = None  # type: ignore[assignment]  # import → ImportError
    try:
        import pandera.strategies.pandas_strategies  # noqa: F401
    except ImportError:  # another pandera layout: it imports what it imports
        pass
    finally:
        if "hypothesis" in sys.modules and sys.modules["hypothesis"] is None:
            del sys.modules["hypothesis"]


def string_columns(data: DataConfig) -> list[str]:
    """Columns to read as strings: declared category/string columns and the id."""
    cols = [name for name, spec in data.columns.items() if spec.type in STRING_TYPES]
    cols += [c for c in (data.categorical or []) if c not in cols]
    return cols


def column(spec: ColumnSpec) -> pa.Column:
    import pandera.pandas as pa

    checks = []
    if spec.min is not None and spec.max is not None:
        checks.append(pa.Check.in_range(spec.min, spec.max))
    elif spec.min is not None:
        checks.append(pa.Check.ge(spec.min))
    elif spec.max is not None:
        checks.append(pa.Check.le(spec.max))
    if spec.values is not None:
        checks.append(pa.Check.isin(list(spec.values)))
    return pa.Column(
        DTYPES[spec.type], checks, nullable=spec.nullable, unique=spec.unique, coerce=True
    )


def build_schema(data: DataConfig, schema_text: str | None, task: str) -> pa.DataFrameSchema:
    """The schema ``mlx validate`` and ``mlx train`` check the training data against."""
    import pandera.pandas as pa

    columns: dict[str, pa.Column] = {}
    if schema_text is not None:
        base = pa.DataFrameSchema.from_yaml(schema_text)
        columns.update(base.columns)
    for name, spec in data.columns.items():
        columns[name] = column(spec)
    # roles always hold, whatever the rules say
    target = columns.get(data.target)
    if target is None:
        dtype = "float64" if task == "regression" else None
        columns[data.target] = pa.Column(dtype, nullable=False, coerce=dtype is not None)
    else:
        target.nullable = False
    if data.id is not None:
        ident = columns.get(data.id)
        if ident is None:
            columns[data.id] = pa.Column(None, nullable=False, unique=True)
        else:
            ident.unique = True
            ident.nullable = False
    for feature in data.features or []:
        columns.setdefault(feature, pa.Column(None, nullable=True))
    return pa.DataFrameSchema(columns, strict=not data.allow_extra_columns, name="training data")


# --- inference ------------------------------------------------------------------------


def infer_specs(frame: pd.DataFrame, data: DataConfig) -> dict[str, ColumnSpec]:
    """Column rules inferred from a frame, as config specs (easy to read and edit)."""
    import pandas as pd

    specs: dict[str, ColumnSpec] = {}
    for name in frame.columns:
        series = frame[name]
        nullable = bool(series.isna().any())
        non_null = series.dropna()
        if pd.api.types.is_bool_dtype(series):
            specs[name] = ColumnSpec(type="bool", nullable=nullable)
        elif pd.api.types.is_numeric_dtype(series):
            integral = bool(len(non_null) and (non_null == non_null.round()).all())
            kind = "int" if integral else "float"
            lo, hi = (None, None)
            if len(non_null) and name != data.id:
                lo, hi = widen(float(non_null.min()), float(non_null.max()), integral)
            specs[name] = ColumnSpec(
                type=kind, nullable=nullable, min=lo, max=hi, unique=name == data.id
            )
        elif pd.api.types.is_datetime64_any_dtype(series):
            specs[name] = ColumnSpec(type="datetime", nullable=nullable)
        else:
            levels = sorted(str(v) for v in non_null.unique())
            small = len(levels) <= MAX_INFERRED_CATEGORIES and len(levels) <= max(
                2, len(non_null) // 2
            )
            if name != data.id and small:
                specs[name] = ColumnSpec(type="category", nullable=nullable, values=levels)
            else:
                specs[name] = ColumnSpec(type="string", nullable=nullable, unique=name == data.id)
    return specs


def widen(lo: float, hi: float, integral: bool) -> tuple[float, float]:
    """Observed range widened by 10% of its span each side and rounded outwards to a
    readable step; a non-negative column keeps a lower bound of at least 0."""
    span = hi - lo
    margin = RANGE_MARGIN * span if span > 0 else max(abs(hi) * RANGE_MARGIN, 1.0)
    step = 10 ** math.floor(math.log10(margin)) if margin > 0 else 1.0
    if integral:
        step = max(step, 1.0)
    new_lo = math.floor((lo - margin) / step) * step
    new_hi = math.ceil((hi + margin) / step) * step
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    return _tidy(new_lo), _tidy(new_hi)


def _tidy(x: float) -> float:
    return float(f"{x:.12g}")


def schema_yaml(specs: dict[str, ColumnSpec], data: DataConfig, task: str) -> str:
    """A pandera YAML document for ``specs`` (round-trips through ``from_yaml``)."""
    stub = data.model_copy(update={"columns": specs, "schema_file": None})
    text = build_schema(stub, None, task).to_yaml()
    assert text is not None  # to_yaml() without a stream returns the document
    return text


def spec_dict(spec: ColumnSpec) -> dict[str, Any]:
    """The non-default parts of a spec, as written under ``data.columns``."""
    return spec.model_dump(exclude_defaults=True) | {"type": spec.type}

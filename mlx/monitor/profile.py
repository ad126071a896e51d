"""The reference profile: what `mlx monitor` needs from the training data, without it.

``mlx train`` calls :func:`build_profile` on the training split (and the model's scores
on the test split) and stores the result in ``metadata.json["profile"]``. Monitoring
then compares current data against it: PSI on the decile bins, KS and Wasserstein on
the percentile grid, data-quality checks on the rates and ranges.

Layout (``format`` 1; every number a plain JSON number, every list sorted)::

    {
      "format": 1,
      "task": "binary",                  # binary | multiclass | regression
      "rows": 4800,                      # rows in the frame the profile was built from
      "features": {                      # in metadata.features order
        "<numeric name>": {
          "kind": "numeric",
          "rows": 4800,                  # rows seen (= profile rows)
          "count": 4750,                 # finite values: the sample size of every statistic
          "null_rate": 0.0104,           # null/NaN share of rows
          "inf_rate": 0.0,               # +/-inf share of rows
          "min": 0.0, "max": 72.0,       # finite range (null when no finite value)
          "mean": 31.2, "std": 20.1,     # of the finite values (population std)
          "edges": [3.0, 7.0, ...],      # PSI bins: unique deciles 10..90 strictly below max;
                                         # bins are right-closed (-inf, e0], (e0, e1], ..., (e_last, inf)
          "freqs": [0.101, ...],         # share of finite values per bin (len(edges) + 1)
          "grid": [0.0, 1.0, ...],       # unique percentiles 0..100 (inverted CDF: data values)
          "cdf": [0.012, ...]            # share of finite values <= grid[i] (exact, grid[-1] -> 1)
        },
        "<categorical name>": {
          "kind": "categorical",
          "rows": 4800, "count": 4790,   # count: non-null values
          "null_rate": 0.002,            # null, NaN and empty-string share of rows
          "freqs": {"basic": 0.41, ...}  # share of non-null values, every known category
        }
      },
      "score": {...} | null              # the numeric layout above, for the model's scores
    }

Decile edges are a subset of the percentile grid, so one ``searchsorted`` of the current
values into ``grid`` gives both the decile counts (PSI) and the CDF (KS, Wasserstein).
Quantiles use the inverted-CDF definition so that edges are values that occur in the
data: for discrete features (counts, flags) bins follow the real steps of the
distribution instead of falling between them.

Rates, frequencies and moments are rounded to 10 significant digits; edges, grid and
min/max are data values and kept exact. The same input gives the same JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FORMAT = 1
DECILES = tuple(range(10, 100, 10))
PERCENTILES = tuple(range(0, 101))
_DIGITS = 10


def build_profile(
    frame: pd.DataFrame,
    features: list[dict[str, Any]],
    scores: np.ndarray | None,
    task: str,
) -> dict[str, Any]:
    """Profile ``features`` of ``frame`` (and the model's ``scores``) as plain JSON.

    ``features`` is ``metadata.features``: ``{"name", "kind": "numeric"|"categorical",
    "categories"?}``. Categories not listed but present in the frame are kept too, so a
    profile built from a file without metadata still knows every category it saw.
    """
    from mlx.data.text import category_text
    from mlx.errors import BadDataFile, UsageError

    missing = [f["name"] for f in features if f["name"] not in frame.columns]
    if missing:
        raise BadDataFile(f"cannot profile: column(s) {', '.join(missing)} not in the data")
    out: dict[str, Any] = {"format": FORMAT, "task": task, "rows": int(len(frame)), "features": {}}
    for feature in features:
        name, kind = feature["name"], feature["kind"]
        if kind == "numeric":
            out["features"][name] = numeric_profile(numeric_values(frame[name]))
        elif kind == "categorical":
            values = category_text(frame[name])
            out["features"][name] = categorical_profile(values, feature.get("categories"))
        else:
            raise UsageError(f"feature {name!r}: unknown kind {kind!r}")
    out["score"] = None if scores is None else numeric_profile(_as_float(scores))
    return out


# --- numeric -------------------------------------------------------------------------


def numeric_values(column: pd.Series) -> np.ndarray:
    """A pandas column as float64 with NaN for missing (bools become 0/1)."""
    import numpy as np
    import pandas as pd

    if column.dtype == bool or str(column.dtype) == "boolean":
        column = column.astype("Float64")
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    values: np.ndarray = column.to_numpy(dtype="float64", na_value=np.nan)
    return values


def _as_float(values: Any) -> np.ndarray:
    import numpy as np

    arr = np.asarray(values, dtype="float64")
    return arr.reshape(-1) if arr.ndim != 1 else arr


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """Profile one numeric column given as float64 (NaN = missing)."""
    import numpy as np

    rows = int(values.size)
    nulls = int(np.count_nonzero(np.isnan(values)))
    finite = values[np.isfinite(values)]
    infs = rows - nulls - int(finite.size)
    prof: dict[str, Any] = {
        "kind": "numeric",
        "rows": rows,
        "count": int(finite.size),
        "null_rate": _round(nulls / rows) if rows else 0.0,
        "inf_rate": _round(infs / rows) if rows else 0.0,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "edges": [],
        "freqs": [],
        "grid": [],
        "cdf": [],
    }
    if finite.size == 0:
        return prof
    xs = np.sort(finite)
    n = xs.size
    grid = np.unique(xs[_inverted_cdf_index(PERCENTILES, n)])
    cdf = np.searchsorted(xs, grid, side="right") / n
    edges = np.unique(xs[_inverted_cdf_index(DECILES, n)])
    edges = edges[edges < xs[-1]]  # the last bin always holds the maximum
    below = np.searchsorted(xs, edges, side="right") / n
    freqs = np.diff(np.concatenate(([0.0], below, [1.0])))
    prof.update(
        min=float(xs[0]),
        max=float(xs[-1]),
        mean=_round(float(np.mean(xs))),
        std=_round(float(np.std(xs))),
        edges=[float(e) for e in edges],
        freqs=[_round(float(f)) for f in freqs],
        grid=[float(g) for g in grid],
        cdf=[_round(float(c)) for c in cdf],
    )
    return prof


def _inverted_cdf_index(percents: tuple[int, ...], n: int) -> np.ndarray:
    """Indexes into a sorted sample of ``n`` of the smallest x with F(x) >= p/100."""
    import numpy as np

    # ceil(p * n / 100) - 1 in integers, so no float rounding moves an index.
    p = np.asarray(percents, dtype=np.int64)
    return np.clip((p * n + 99) // 100 - 1, 0, n - 1)


# --- categorical ---------------------------------------------------------------------


def categorical_profile(values: pd.Series, categories: list[Any] | None) -> dict[str, Any]:
    """Profile one categorical column given as pandas strings (NA = missing)."""
    rows = int(len(values))
    present = values.dropna()
    counts = present.value_counts(sort=False)
    count = int(len(present))
    known = [str(c) for c in categories] if categories is not None else []
    names = sorted(set(known) | {str(c) for c in counts.index})
    freqs = {name: _round(int(counts.get(name, 0)) / count) if count else 0.0 for name in names}
    return {
        "kind": "categorical",
        "rows": rows,
        "count": count,
        "null_rate": _round((rows - count) / rows) if rows else 0.0,
        "freqs": freqs,
    }


def _round(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}")

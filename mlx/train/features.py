"""Which columns are features, of which kind, and how they are encoded for LightGBM.

The feature list (names, kinds, categorical domains) is decided once, from the config
and the training rows, and recorded in ``metadata.json``; the same list builds the
ONNX graph's inputs and the serving schema, so training and serving cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlx.config.model import DataConfig, ModelConfig
from mlx.data.text import category_text
from mlx.errors import StageFailed, UsageError
from mlx.model_files import RESERVED_NAMES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # numeric | categorical
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == CATEGORICAL:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Feature:
        return cls(doc["name"], doc["kind"], tuple(doc.get("categories", ())))


def feature_names(data: DataConfig, columns: list[str]) -> list[str]:
    """Feature columns in serving order: ``data.features`` or every other column."""
    if data.features is not None:
        missing = [c for c in data.features if c not in columns]
        if missing:
            raise StageFailed(f"feature columns missing from the data: {', '.join(missing)}")
        names = list(data.features)
    else:
        skip = {data.target, data.id, *data.drop}
        names = [c for c in columns if c not in skip]
    if not names:
        raise StageFailed("no feature columns left after removing target, id and drop")
    clash = sorted(RESERVED_NAMES & set(names))
    if clash:
        raise UsageError(
            f"feature column(s) {', '.join(clash)} clash with the model's output names",
            hint="rename the column or list it under data.drop",
        )
    return names


def _is_categorical(name: str, series: pd.Series, data: DataConfig) -> bool:
    import pandas as pd

    if data.categorical is not None:
        return name in data.categorical
    spec = data.columns.get(name)
    if spec is not None:
        return spec.type in ("category", "string")
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def describe_features(frame: pd.DataFrame, data: DataConfig, model: ModelConfig) -> list[Feature]:
    """Decide kinds and categorical domains from the training rows; reject what
    LightGBM would silently mishandle (datetimes, huge domains, infinities)."""
    import numpy as np
    import pandas as pd

    features = []
    for name in feature_names(data, list(frame.columns)):
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            raise StageFailed(
                f"feature {name!r} is a datetime; derive numeric features from it or add it to data.drop"
            )
        if _is_categorical(name, series, data):
            levels = sorted(category_text(series).dropna().unique())
            if len(levels) > model.max_categories:
                raise StageFailed(
                    f"categorical feature {name!r} has {len(levels)} levels (limit {model.max_categories})",
                    hint="drop it (data.drop), bucket it, or raise model.max_categories",
                )
            features.append(Feature(name, CATEGORICAL, tuple(levels)))
            continue
        values = pd.to_numeric(series, errors="coerce")
        bad = int((values.isna() & series.notna()).sum())
        if bad:
            raise StageFailed(
                f"feature {name!r} has {bad} non-numeric values; declare it categorical or fix the data"
            )
        n_inf = int(np.isinf(values.to_numpy(dtype="float64", na_value=np.nan)).sum())
        if n_inf:
            raise StageFailed(
                f"feature {name!r} has {n_inf} infinite values",
                hint="replace them with a finite value or leave them empty (missing)",
            )
        features.append(Feature(name, NUMERIC))
    return features


# LightGBM refuses these in feature names ("Do not support special JSON characters")
_JSON_SPECIAL = str.maketrans({c: "_" for c in '",:[]{}'})


def lightgbm_names(features: list[Feature]) -> list[str]:
    """Column names as LightGBM is given them: the feature's name with the characters
    LightGBM refuses (``" , : [ ] { }``) as ``_``, made unique. The ONNX graph, the
    metadata and serving keep the real names; only ``model.lgb.txt`` shows these."""
    out: list[str] = []
    taken = {f.name for f in features}
    for f in features:
        name = f.name.translate(_JSON_SPECIAL)
        if name != f.name:
            base, k = name, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
        out.append(name)
    return out


def lightgbm_categorical(features: list[Feature]) -> list[str]:
    """The categorical features' LightGBM names (see :func:`lightgbm_names`)."""
    names = lightgbm_names(features)
    return [n for n, f in zip(names, features, strict=True) if f.kind == CATEGORICAL]


def to_lightgbm_frame(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """Features as LightGBM sees them: float64 numerics, pandas categoricals with the
    training domain (unseen values become missing, as in the ONNX graph; category text
    as :func:`mlx.data.text.category_text` writes it)."""
    import pandas as pd

    cols = {}
    for f in features:
        series = frame[f.name]
        if f.kind == CATEGORICAL:
            as_str = category_text(series)
            known = as_str.where(as_str.isin(f.categories), None)  # unseen → missing
            cols[f.name] = pd.Categorical(known, categories=list(f.categories))
        else:
            cols[f.name] = pd.to_numeric(series, errors="coerce").astype("float64")
    out = pd.DataFrame(cols, index=frame.index)
    out.columns = lightgbm_names(features)
    return out


def to_onnx_inputs(frame: pd.DataFrame, features: list[Feature]) -> dict[str, np.ndarray]:
    """Raw columns as the ONNX graph takes them: FP32 or string, shape [n, 1]."""
    import numpy as np

    out = {}
    for f in features:
        series = frame[f.name]
        if f.kind == CATEGORICAL:
            values = category_text(series).fillna("").to_numpy(dtype=object)
            out[f.name] = values.reshape(-1, 1)
        else:
            out[f.name] = series.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
    return out

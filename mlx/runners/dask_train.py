"""Boosting on a Dask cluster: the ``booster_factory`` the train stage calls.

The workers read the training file themselves, in partitions (``dask.dataframe``), with
the dtypes the stage's own read settled on, number the rows globally (so the stage's
split, made on the same file, selects the same training rows there), and encode
features exactly as a local train does (:func:`mlx.train.features.to_lightgbm_frame`:
the same categories, so the same codes, so the ONNX graph and parity hold).
``lightgbm.dask`` then trains across the workers over LightGBM's own sockets and
``.to_local()`` gives an ordinary booster for the export.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.errors import DataNotAvailable

if TYPE_CHECKING:
    import dask.dataframe as dd
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from mlx.train.features import Feature

LABEL = "__mlx_label__"


@dataclass
class DaskBoosterFactory:
    client: Any  # a distributed.Client (whose methods carry no type hints)
    data_path: Path
    target: str
    task: str
    partitions: int
    used: dict[str, Any] | None = None  # filled in: partitions and rows per worker

    def __call__(
        self,
        train: pd.DataFrame,
        y_train: np.ndarray,
        features: list[Feature],
        params: dict[str, Any],
        rounds: int,
    ) -> lgb.Booster:
        import dask.dataframe as dd
        import lightgbm as lgb
        import numpy as np
        from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

        with self.client.as_current():  # dask collections made here use this client
            client = self.client
            columns = [f.name for f in features] + [self.target]
            frame = self._read(columns, {c: train[c].dtype for c in columns})
            # Partition i lives on worker i mod n (workers by address), always: LightGBM's
            # distributed bins and histograms depend on which rows each worker holds.
            workers = sorted(client.scheduler_info()["workers"])
            where = [[workers[i % len(workers)]] for i in range(frame.npartitions)]
            parts = frame.to_delayed()  # type: ignore[no-untyped-call]  # dask: no type hints
            raw = [
                client.compute(part, workers=w, allow_other_workers=False)
                for part, w in zip(parts, where, strict=True)
            ]
            lengths = client.gather(client.map(len, raw, pure=False))
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64).tolist()
            total = int(sum(lengths))
            if len(train) and int(train.index.max()) >= total:
                raise DataNotAvailable(
                    f"the workers read {total} rows from {self.data_path}, fewer than this machine",
                    hint="the workers must see the same file at the same path",
                )
            mask = np.zeros(total, dtype=bool)
            mask[train.index.to_numpy()] = True
            lookup = None
            if self.task != "regression":
                pairs = dict(zip(train[self.target].tolist(), y_train.tolist(), strict=True))
                lookup = {k: int(v) for k, v in pairs.items()}
            mask_future = client.scatter(mask, broadcast=True)
            pinned = {"allow_other_workers": False, "pure": False}
            prepared = [
                client.submit(
                    _prepare,
                    part,
                    start,
                    mask_future,
                    features,
                    self.target,
                    lookup,
                    workers=w,
                    **pinned,
                )
                for part, start, w in zip(raw, offsets, where, strict=True)
            ]
            x_parts = [
                client.submit(_features, p, workers=w, **pinned)
                for p, w in zip(prepared, where, strict=True)
            ]
            y_parts = [
                client.submit(_label, p, workers=w, **pinned)
                for p, w in zip(prepared, where, strict=True)
            ]
            meta = _prepare(frame._meta, 0, mask[:0], features, self.target, lookup)
            x = dd.from_delayed(x_parts, meta=_features(meta), verify_meta=False)
            y = dd.from_delayed(y_parts, meta=_label(meta), verify_meta=False)
            del raw, prepared
            params = {k: v for k, v in params.items() if k not in ("num_threads", "num_class")}
            model_cls = DaskLGBMRegressor if self.task == "regression" else DaskLGBMClassifier
            model = model_cls(client=client, n_estimators=rounds, **params)
            # lightgbm.dask sets threads per worker itself, and prints its progress ("Finding
            # random open ports…") to stdout, which belongs to --json: send it to stderr
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
                model.fit(x, y)
            self.used = {"partitions": frame.npartitions, "rows": total}
            local = model.to_local()
            del x, y, x_parts, y_parts, mask_future
            return lgb.Booster(model_str=local.booster_.model_to_string())

    def _read(self, columns: list[str], dtypes: dict[str, Any]) -> dd.DataFrame:
        import dask.dataframe as dd

        from mlx.data.io import file_format

        frame: dd.DataFrame
        if file_format(self.data_path) == "csv":
            size = self.data_path.stat().st_size
            block = max(1 << 16, math.ceil(size / self.partitions))
            frame = dd.read_csv(
                str(self.data_path), usecols=columns, dtype=dtypes, blocksize=block
            )[columns]
        else:
            # a partition per row group: no worker reads the whole file
            frame = dd.read_parquet(str(self.data_path), columns=columns, split_row_groups=True)
        if frame.npartitions != self.partitions:  # blocks of bytes only approximate it
            frame = frame.repartition(npartitions=self.partitions)
        return frame


def _prepare(
    part: pd.DataFrame,
    start: int,
    mask: np.ndarray,
    features: list[Feature],
    target: str,
    lookup: dict[Any, int] | None,
) -> pd.DataFrame:
    """One partition as LightGBM sees it: training rows only, encoded, with the label."""
    import pandas as pd

    from mlx.train.features import to_lightgbm_frame

    part = part.set_axis(pd.RangeIndex(start, start + len(part)), axis=0)
    part = part[mask[start : start + len(part)]]
    frame = to_lightgbm_frame(part, features)
    label = part[target]
    frame[LABEL] = label.map(lookup).astype("int32") if lookup is not None else label
    return frame


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[LABEL])


def _label(frame: pd.DataFrame) -> pd.Series:
    return frame[LABEL]

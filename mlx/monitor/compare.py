"""``mlx monitor --compare A B``: two served versions compared on their prediction logs
(a shadow or canary period), so CI can decide a promotion.

Rows of the two versions are paired by request id and position within the request (a
shadow scores exactly the rows the primary answered; canary rows have no pair and only
count for each side's own figures). Reported:

- agreement: the share of paired rows with the same predicted class (regression: the
  same prediction within 5% relative or 1e-6 absolute);
- score shift between the two versions' ``_score`` distributions: PSI over A's deciles
  and the two-sample KS statistic (``mlx.monitor.stats``), with the sampling-noise bound
  at ``alpha`` for each;
- scoring time of each version (p50/p99 ms of ``_score_ms``, the model run of the batch
  each row was scored in), from the prediction logs alone, a shadow's included;
- request latency of each version (p50/p99 ms) when an access log (``--access-log FILE``,
  the JSON lines ``mlx serve`` writes on stderr) is given: only answered requests have
  one, so a shadow has none;
- with ``--labels``: each version's live metrics on its labelled rows (joined on the id
  column or ``_request_id``) and a significance test of the difference on the paired rows
  (McNemar's for classification, a paired t-test on absolute errors for regression).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx.errors import DataNotAvailable, UsageError

if TYPE_CHECKING:  # pandas and numpy are imported where they are used
    import pandas as pd
    from numpy.typing import NDArray

    from mlx.config.model import ProjectConfig
    from mlx.metadata import ModelMetadata

AGREE_RTOL = 0.05


@dataclass
class Side:
    ref: str
    name: str
    version: str
    rows: int = 0
    requests: int = 0
    latency_ms: dict[str, float] | None = None
    score_ms: dict[str, float] | None = None
    metrics: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Comparison:
    a: Side
    b: Side
    log_dir: str
    joined_rows: int = 0
    agreement: float | None = None
    score_shift: dict[str, Any] = field(default_factory=dict)
    significance: dict[str, Any] | None = None
    labelled_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "log_dir": self.log_dir,
            "joined_rows": self.joined_rows,
            "agreement": self.agreement,
            "score_shift": self.score_shift,
            "labelled_rows": self.labelled_rows,
            "significance": self.significance,
            "notes": self.notes,
        }


def _version_of(project: ProjectConfig, ref: str) -> tuple[str, str]:
    """(name, version) a ref names, as the prediction log's ``_model``/``_version`` say."""
    if ":" in ref and "#" not in ref and "@" not in ref:  # NAME:VERSION, as in ?model=
        name, _, version = ref.partition(":")
        return name, version
    from mlx.registry.refs import resolve

    resolved = resolve(project, ref)
    if resolved.version:
        return resolved.name, resolved.version
    from mlx.registry.materialize import open_model

    local = open_model(project, resolved)  # unregistered: serve labels it md5-<8 hex>
    return resolved.name, f"md5-{(local.md5 or '')[:8]}"


def _read(log_dir: Path, name: str, version: str, since: datetime | None) -> pd.DataFrame:
    import pyarrow.compute as pc

    from mlx.monitor.current import LOG_COLUMNS, _read_logs

    folder = log_dir / name
    if not folder.is_dir():
        raise DataNotAvailable(f"no prediction logs for {name} under {log_dir}", hint="serve it with prediction logs on (serve.prediction_log)")  # fmt: skip
    data = _read_logs(folder, list(LOG_COLUMNS), set(), since)
    table = data.table
    if "_version" not in table.column_names:
        raise DataNotAvailable(f"the prediction logs under {folder} have no _version column")
    return table.filter(pc.equal(table["_version"], version)).to_pandas()


def _paired(fa: pd.DataFrame, fb: pd.DataFrame) -> pd.DataFrame:
    for f in (fa, fb):
        f["_k"] = f.groupby("_request_id").cumcount()
    return fa.merge(fb, on=["_request_id", "_k"], suffixes=("_a", "_b"))


def _latency(path: Path | None, side: Side) -> None:
    if path is None:
        return
    import numpy as np

    ms = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("{"):
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("model") == side.name and doc.get("version") == side.version and "ms" in doc:
                ms.append(float(doc["ms"]))
    if ms:
        side.latency_ms = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "requests": len(ms)}  # fmt: skip


def _score_ms(frame: pd.DataFrame) -> dict[str, float] | None:
    """p50/p99 of the ``_score_ms`` column (null in logs written before it existed)."""
    if "_score_ms" not in frame.columns:
        return None
    import numpy as np

    ms = frame["_score_ms"].to_numpy("float64", na_value=np.nan)
    ms = ms[~np.isnan(ms)]
    if not len(ms):
        return None
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "rows": int(len(ms))}  # fmt: skip


def compare(
    project: ProjectConfig,
    ref_a: str,
    ref_b: str,
    *,
    log_dir: Path,
    since: datetime | None = None,
    labels_file: Path | None = None,
    access_log: Path | None = None,
    alpha: float = 0.01,
) -> Comparison:
    import numpy as np

    from mlx.monitor import stats

    (na, va), (nb, vb) = _version_of(project, ref_a), _version_of(project, ref_b)
    if (na, va) == (nb, vb):
        raise UsageError(f"{ref_a} and {ref_b} are both {na} {va}: compare two versions")
    a, b = Side(ref_a, na, va), Side(ref_b, nb, vb)
    fa, fb = _read(log_dir, na, va, since), _read(log_dir, nb, vb, since)
    result = Comparison(a, b, str(log_dir))
    for side, frame in ((a, fa), (b, fb)):
        side.rows, side.requests = len(frame), int(frame["_request_id"].nunique())
        if not len(frame):
            raise DataNotAvailable(f"no prediction-log rows for {side.name} {side.version} under {log_dir}", hint="serve it (--shadow or --canary) with prediction logs on")  # fmt: skip
        _latency(access_log, side)
        side.score_ms = _score_ms(frame)
    sa, sb = fa["_score"].to_numpy("float64"), fb["_score"].to_numpy("float64")
    edges = np.unique(np.quantile(sa, np.linspace(0, 1, 11)[1:-1]))
    pa_ = np.bincount(np.searchsorted(edges, sa, side="right"), minlength=len(edges) + 1) / len(sa)
    pb_ = np.bincount(np.searchsorted(edges, sb, side="right"), minlength=len(edges) + 1) / len(sb)
    from scipy.stats import ks_2samp

    ks = float(ks_2samp(sa, sb).statistic)
    result.score_shift = {
        "psi": stats.psi(pa_, pb_),
        "psi_noise": stats.psi_noise(len(edges) + 1, len(sa), len(sb), alpha),
        "ks": ks,
        "ks_noise": stats.ks_noise(len(sa), len(sb), alpha),
        "mean_a": float(sa.mean()),
        "mean_b": float(sb.mean()),
    }
    joined = _paired(fa, fb)
    result.joined_rows = len(joined)
    if len(joined):
        if "_label_a" in joined and "_label_b" in joined:
            same = joined["_label_a"].to_numpy() == joined["_label_b"].to_numpy()
        else:
            x, y = joined["_score_a"].to_numpy("float64"), joined["_score_b"].to_numpy("float64")
            same = np.abs(x - y) <= np.maximum(AGREE_RTOL * np.maximum(np.abs(x), np.abs(y)), 1e-6)
        result.agreement = float(same.mean())
    else:
        result.notes.append("no request was scored by both versions (canary rows do not pair): agreement needs a shadow period")  # fmt: skip
    if labels_file is not None:
        _labelled(project, result, fa, fb, joined, labels_file)
    return result


def _labelled(
    project: ProjectConfig,
    result: Comparison,
    fa: pd.DataFrame,
    fb: pd.DataFrame,
    joined: pd.DataFrame,
    labels_file: Path,
) -> None:
    import numpy as np

    from mlx.data.io import read_table
    from mlx.monitor import performance as perf

    cfg = project.config if project is not None else None
    id_column = getattr(getattr(cfg, "data", None), "id", None)
    target = getattr(getattr(cfg, "data", None), "target", None)
    if not id_column or not target:
        raise UsageError("--labels needs data.id and data.target in mlops.yaml")
    frame = read_table(labels_file, [id_column, target])
    labels = dict(zip(frame[id_column].astype(str), frame[target].tolist(), strict=True))
    meta = _metadata(project, result.a.ref)
    task, classes = meta.task, meta.classes
    errors: dict[str, np.ndarray] = {}
    for side, f, suffix in ((result.a, fa, "_a"), (result.b, fb, "_b")):
        pos, y = perf.join_labels(f["_request_id"].tolist(), labels)
        if len(pos):
            sub = f.iloc[pos]
            predicted = sub["_label"].to_numpy() if "_label" in sub else None
            side.metrics = perf.live_metrics(task, classes, y, sub["_score"].to_numpy("float64"), predicted)  # fmt: skip
        pj, yj = perf.join_labels(joined["_request_id"].tolist(), labels)
        if len(pj):
            sub = joined.iloc[pj]
            if task == "regression":
                errors[suffix] = np.abs(sub["_score" + suffix].to_numpy("float64") - np.asarray(yj, dtype="float64"))  # fmt: skip
            else:
                index = {str(c): i for i, c in enumerate(classes or [])}
                truth = np.asarray([index.get(str(v), -1) for v in yj])
                errors[suffix] = sub["_label" + suffix].to_numpy() != truth
    result.labelled_rows = int(len(errors.get("_a", [])))
    if "_a" in errors and "_b" in errors and len(errors["_a"]) > 1:
        result.significance = _test(task, errors["_a"], errors["_b"])


def _test(task: str, ea: NDArray[Any], eb: NDArray[Any]) -> dict[str, Any]:
    if task == "regression":
        from scipy.stats import ttest_rel

        res = ttest_rel(ea, eb)
        p = float(res.pvalue) if not math.isnan(res.pvalue) else 1.0
        return {"test": "paired t-test on absolute errors", "statistic": float(res.statistic), "p_value": p}  # fmt: skip
    from scipy.special import chdtrc

    b = int((ea & ~eb).sum())  # A wrong, B right
    c = int((~ea & eb).sum())
    stat = (abs(b - c) - 1) ** 2 / (b + c) if b + c else 0.0
    return {"test": "McNemar (continuity-corrected)", "a_wrong_b_right": b, "a_right_b_wrong": c, "statistic": float(stat), "p_value": float(chdtrc(1, stat)) if b + c else 1.0}  # fmt: skip


def _metadata(project: ProjectConfig, ref: str) -> ModelMetadata:
    from mlx.registry.materialize import open_ref

    local = open_ref(project, ref)
    if local.metadata is None:
        raise UsageError(f"{ref}: no metadata.json")
    return local.metadata


def markdown(c: Comparison) -> str:
    def num(v: float | None, d: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{d}f}"

    s = c.score_shift
    lines = [
        f"## {c.a.name} {c.a.version} vs {c.b.name} {c.b.version}",
        "",
        f"- rows: {c.a.rows:,} ({c.a.ref}) / {c.b.rows:,} ({c.b.ref}); paired: {c.joined_rows:,}",
        f"- agreement: {'n/a' if c.agreement is None else f'{c.agreement:.1%}'}",
        f"- score shift: PSI {num(s.get('psi'))} (noise {num(s.get('psi_noise'))}), KS {num(s.get('ks'))} (noise {num(s.get('ks_noise'))}); mean {num(s.get('mean_a'))} -> {num(s.get('mean_b'))}",  # noqa: E501
        "",
        "| version | requests | scoring p50 ms | scoring p99 ms | request p50 ms | request p99 ms |"
        + (" metrics |" if c.a.metrics or c.b.metrics else ""),  # noqa: E501
        "|---|---|---|---|---|---|" + ("---|" if c.a.metrics or c.b.metrics else ""),
    ]
    for side in (c.a, c.b):
        lat, sc = side.latency_ms or {}, side.score_ms or {}
        row = f"| {side.version} | {side.requests:,} | {num(sc.get('p50'), 2)} | {num(sc.get('p99'), 2)} | {num(lat.get('p50'), 2)} | {num(lat.get('p99'), 2)} |"  # fmt: skip
        if c.a.metrics or c.b.metrics:
            row += " " + ", ".join(f"{k} {v:.4f}" for k, v in (side.metrics or {}).items()) + " |"
        lines.append(row)
    if c.significance:
        sig = c.significance
        lines += ["", f"- {sig['test']} on {c.labelled_rows:,} labelled paired rows: p = {sig['p_value']:.4f}"]  # fmt: skip
    lines += [f"- note: {n}" for n in c.notes]
    return "\n".join(lines) + "\n"

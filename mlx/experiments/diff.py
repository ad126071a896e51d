"""``mlx diff A B``: what changed between two models, and what it did, from Git alone.

Each side is anything ``mlx lineage`` accepts (``churn#prod``, ``churn@v1.2.0``, a tag,
a commit or branch, ``HEAD``, a model folder), a DVC experiment name, a run name given
with ``mlx train --name``, or ``workspace`` (the model in the work tree, the default for
B). Everything is read from the committed ``metadata.json``, ``eval/metrics.json`` and
``mlops.yaml`` of each side: the training data's shift comes from the two reference
profiles, so no data is pulled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mlx.adapters.git import Git
from mlx.config.loader import parse_config
from mlx.config.model import ProjectConfig
from mlx.errors import MlxError, RefError
from mlx.experiments.shift import profile_shift
from mlx.metadata import ModelMetadata, load_metadata
from mlx.metrics import HIGHER_IS_BETTER
from mlx.model_files import EVAL_METRICS
from mlx.registry.refs import ResolvedModel, resolve
from mlx.registry.store import Registry
from mlx.registry.writer import json_object, read_commit

WORKSPACE = "workspace"
_NOISE_PARAMS = {"num_threads", "verbosity"}
MAX_COMMITS = 20
TOP_IMPORTANCE = 10


@dataclass
class Side:
    ref: str
    label: str
    resolved: ResolvedModel
    meta: ModelMetadata | None
    eval: dict[str, Any] | None
    config: dict[str, Any] | None
    stages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "label": self.label,
            "commit": self.resolved.commit,
            "version": self.resolved.version,
            "stages": self.stages,
            "model_md5": self.meta.onnx.md5 if self.meta and self.meta.onnx else None,
            "run": self.meta.run.model_dump() if self.meta and self.meta.run else None,
            "evaluated": self.eval is not None,
        }


@dataclass
class DiffResult:
    a: Side
    b: Side
    same_model: bool
    params: list[dict[str, Any]]
    config: list[dict[str, Any]]
    code: dict[str, Any]
    data: dict[str, Any]
    features: dict[str, Any]
    metrics: list[dict[str, Any]]
    metrics_from: str
    slices: list[dict[str, Any]]
    importance: list[dict[str, Any]]
    packages: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["a"], out["b"] = self.a.to_dict(), self.b.to_dict()
        return out


def diff_models(project: ProjectConfig, ref_a: str, ref_b: str | None = None) -> DiffResult:
    git = Git.discover(project.root)
    registry = Registry.load(git)
    notes: list[str] = []
    a = _side(project, git, registry, ref_a, notes)
    b = _side(project, git, registry, ref_b or WORKSPACE, notes)
    ma, mb = a.meta, b.meta
    for side in (a, b):
        if side.meta is None:
            notes.append(f"{side.ref}: no mlx model metadata at {side.label}")
    metrics, source = _metrics(a, b, notes)
    return DiffResult(
        a=a,
        b=b,
        same_model=bool(ma and mb and ma.onnx and mb.onnx and ma.onnx.md5 == mb.onnx.md5),
        params=_changes(_params(ma), _params(mb)),
        config=_changes(_flat(a.config), _flat(b.config)),
        code=_code(git, a.resolved.commit, b.resolved.commit),
        data=_data(ma, mb),
        features=_features(ma, mb),
        metrics=metrics,
        metrics_from=source,
        slices=_slices(a.eval, b.eval) if source == "eval" else [],
        importance=_importance(ma, mb),
        packages=_changes(ma.packages if ma else {}, mb.packages if mb else {}),
        notes=notes,
    )


# --- the two sides ---------------------------------------------------------------------


def _side(project: ProjectConfig, git: Git, registry: Registry, ref: str, notes: list[str]) -> Side:
    resolved = _resolve(project, git, registry, ref)
    art = registry.artifact(resolved.name)
    version = art.version(resolved.version) if art and resolved.version else None
    stages = art.stages_of(version) if art and version and version.active else []
    if resolved.commit is None:  # the work tree or a folder
        folder = resolved.folder
        assert folder is not None
        try:
            meta: ModelMetadata | None = load_metadata(folder)
        except MlxError:
            meta = None
        ev_file = folder / EVAL_METRICS
        ev: dict[str, Any] | None = json_object(ev_file.read_bytes()) if ev_file.is_file() else None
        config: dict[str, Any] | None = project.config.model_dump(mode="json")
        label = "work tree" if ref == WORKSPACE else str(folder)
    else:
        facts = read_commit(git, resolved.commit, resolved.model_path or "")
        meta, ev = facts.metadata, facts.eval
        config = _config_at(project, git, resolved.commit, notes)
        label = resolved.label
    if ev is not None and meta is not None and meta.onnx:
        if (ev.get("model") or {}).get("md5") != meta.onnx.md5:
            notes.append(f"{ref}: its eval results are for another model; not compared")
            ev = None
    return Side(ref, label, resolved, meta, ev, config, stages)


def _resolve(project: ProjectConfig, git: Git, registry: Registry, ref: str) -> ResolvedModel:
    """``mlx lineage``'s resolver, then DVC experiment and run names."""
    if ref == WORKSPACE:
        return resolve(project, None, git=git, registry=registry)
    try:
        return resolve(project, ref, git=git, registry=registry)
    except RefError as exc:
        commit = _named_run(project, git, ref)
        if commit is None:
            raise RefError(
                f"cannot resolve {ref!r}: not a model reference, experiment or run name",
                hint=exc.hint,
            ) from None
        resolved = resolve(project, commit, git=git, registry=registry)
        resolved.ref = ref
        return resolved


def _named_run(project: ProjectConfig, git: Git, name: str) -> str | None:
    from mlx.experiments.runs import EXP_PREFIX, list_runs

    for row in git.for_each_ref(EXP_PREFIX, ["refname", "objectname"]):
        if row[0].rsplit("/", 1)[-1] == name:
            return row[1]
    try:
        runs = list_runs(project, all_branches=True).runs
    except MlxError:
        return None
    found = [r for r in runs if name in (r.name, r.experiment) and r.commit]
    return found[0].commit if found else None


def _config_at(
    project: ProjectConfig, git: Git, commit: str, notes: list[str]
) -> dict[str, Any] | None:
    rel = PurePosixPath(git.relative(project.path).as_posix())
    raw = git.show(commit, rel)
    if raw is None:
        return None

    def read_params(name: str) -> str | None:  # params_file, as committed beside it
        blob = git.show(commit, PurePosixPath(rel.parent, name))
        return None if blob is None else blob.decode("utf-8", "replace")

    try:
        text = raw.decode("utf-8", "replace")
        return parse_config(text, f"{rel} at {commit[:10]}", read_params=read_params).model_dump(
            mode="json"
        )
    except MlxError:
        notes.append(f"{rel} at {commit[:10]} does not parse with this mlx; config not compared")
        return None


# --- what changed ----------------------------------------------------------------------


def _params(meta: ModelMetadata | None) -> dict[str, Any]:
    if meta is None:
        return {}
    out = {k: v for k, v in meta.params.items() if k not in _NOISE_PARAMS}
    if meta.seed is not None:
        out.setdefault("seed", meta.seed)
    return out


def _flat(doc: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(doc, dict):
        return {prefix: doc} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flat(value, path))
        else:
            out[path] = value
    return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{key, a, b, change}]`` for every key whose value differs (added/removed/changed)."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        change = "added" if key not in a else "removed" if key not in b else "changed"
        out.append({"key": key, "a": va, "b": vb, "change": change})
    return out


def _code(git: Git, a: str | None, b: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"a": a, "b": b}
    if a is None or b is None or a == b:
        out["ahead"] = out["behind"] = 0
        out["commits"] = []
        if b is None:
            out["worktree"] = True
        return out
    counts = git.run("rev-list", "--left-right", "--count", f"{a}...{b}").split()
    out["behind"], out["ahead"] = int(counts[0]), int(counts[1])
    log = git.run("log", f"--max-count={MAX_COMMITS}", "--format=%h%x00%s", f"{a}..{b}")
    out["commits"] = [
        {"commit": sha, "subject": subject}
        for sha, _, subject in (line.partition("\x00") for line in log.splitlines() if line)
    ]
    out["range"] = f"{a[:10]}..{b[:10]}"
    return out


def _data(ma: ModelMetadata | None, mb: ModelMetadata | None) -> dict[str, Any]:
    da = ma.data.model_dump(exclude_none=True) if ma and ma.data else {}
    db = mb.data.model_dump(exclude_none=True) if mb and mb.data else {}
    out: dict[str, Any] = {"a": da, "b": db, "same": bool(da) and da.get("md5") == db.get("md5")}
    if da.get("rows") is not None and db.get("rows") is not None:
        out["rows_change"] = db["rows"] - da["rows"]
    pa = (ma.profile or {}).get("features") if ma else None
    pb = (mb.profile or {}).get("features") if mb else None
    out["shift"] = profile_shift(pa or {}, pb or {}) if pa and pb and not out["same"] else []
    return out


def _features(ma: ModelMetadata | None, mb: ModelMetadata | None) -> dict[str, Any]:
    fa = {f.name: f for f in ma.features} if ma else {}
    fb = {f.name: f for f in mb.features} if mb else {}
    changed = []
    for name in [n for n in fa if n in fb]:
        x, y = fa[name], fb[name]
        if x.kind != y.kind:
            changed.append({"feature": name, "kind": [x.kind, y.kind]})
        elif x.categories != y.categories:
            ca, cb = set(x.categories or []), set(y.categories or [])
            changed.append(
                {
                    "feature": name,
                    "categories_added": sorted(cb - ca),
                    "categories_removed": sorted(ca - cb),
                }
            )
    return {
        "added": [n for n in fb if n not in fa],
        "removed": [n for n in fa if n not in fb],
        "changed": changed,
        "order_changed": [n for n in fa if n in fb] != [n for n in fb if n in fa],
    }


def _delta(key: str, va: Any, vb: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"metric": key, "a": va, "b": vb, "delta": None, "better": None}
    if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
        row["delta"] = vb - va
        if vb != va:
            row["better"] = (vb > va) == HIGHER_IS_BETTER.get(key, True)
    return row


def _metrics(a: Side, b: Side, notes: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Test-set metrics when both sides were evaluated, else the training-time ones."""
    if a.eval is not None and b.eval is not None:
        ma, mb, source = a.eval.get("metrics") or {}, b.eval.get("metrics") or {}, "eval"
    else:
        if a.eval is not None or b.eval is not None:
            notes.append("only one side has eval results: comparing training-time metrics")
        ma = a.meta.metrics if a.meta else {}
        mb = b.meta.metrics if b.meta else {}
        source = "train"
    return [_delta(k, ma.get(k), mb.get(k)) for k in dict.fromkeys([*ma, *mb])], source


def _slices(ea: dict[str, Any] | None, eb: dict[str, Any] | None) -> list[dict[str, Any]]:
    sa, sb = (ea or {}).get("slices") or {}, (eb or {}).get("slices") or {}
    rows = []
    for column in [c for c in sa if c in sb]:
        for value in [v for v in sa[column] if v in sb[column]]:
            ga, gb = sa[column][value], sb[column][value]
            if not isinstance(ga, dict) or not isinstance(gb, dict):
                continue
            for key in [k for k in ga if k in gb and k != "rows"]:
                rows.append(
                    {
                        "slice": f"{column}={value}",
                        "rows": gb.get("rows"),
                        **_delta(key, ga[key], gb[key]),
                    }
                )
    return rows


def _importance(ma: ModelMetadata | None, mb: ModelMetadata | None) -> list[dict[str, Any]]:
    """Share of total gain per feature on each side, the largest moves first."""

    def shares(meta: ModelMetadata | None) -> dict[str, float]:
        imp = meta.feature_importance if meta else {}
        total = sum(imp.values()) or 1.0
        return {k: v / total for k, v in imp.items()}

    a, b = shares(ma), shares(mb)
    rows: list[dict[str, Any]] = [
        {
            "feature": k,
            "a": round(a.get(k, 0.0), 4),
            "b": round(b.get(k, 0.0), 4),
            "delta": round(b.get(k, 0.0) - a.get(k, 0.0), 4),
        }
        for k in dict.fromkeys([*a, *b])
    ]
    rows.sort(key=lambda r: abs(r["delta"]), reverse=True)
    return [r for r in rows if r["delta"]][:TOP_IMPORTANCE]

"""``mlx runs``: every trained run reachable from Git, read in bulk.

A *run* is one ``metadata.json`` the train stage wrote, as first committed: on a branch
(``mlx train --commit``), in a DVC experiment ref (``dvc exp run`` commits under
``refs/exps/``), or at a registered version's commit. Its eval result is the newest
``eval/metrics.json`` in the same history whose model md5 is the run's; registry
versions and stages come from the tags.

The whole table costs one ``git for-each-ref`` (the registry), one ``git log --raw``
over every ref asked for (which names the metadata and eval blobs each commit wrote) and
one ``git cat-file --batch`` for all those blobs: no checkout, no DVC pull, no per-commit
process.

Trials of ``mlx tune`` come from the trials table (``<model.path>/tune/trials.json``,
:mod:`mlx.experiments.trials`) in every commit of that history that changed it, and in
the work tree when it differs from HEAD's: one row ``tune#<n>`` per trial, ``kind``
"trial" (not a trained model: no ONNX, its metric is the validation split's). Their
blobs are read in the same log pass and the same cat-file batch.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlx.adapters.git import Git, LogEntry
from mlx.config.model import ProjectConfig
from mlx.errors import UsageError
from mlx.experiments.trials import TRIALS_FILE, parse_table, trial_rows
from mlx.metadata import ModelMetadata
from mlx.metrics import HEADLINE, HIGHER_IS_BETTER
from mlx.model_files import EVAL_METRICS, METADATA
from mlx.registry.refs import model_path
from mlx.registry.store import Registry
from mlx.registry.writer import json_object, metadata_or_none
from mlx.util.suggest import near

EXP_PREFIX = "refs/exps/"
# params that say how LightGBM ran, not what it learned
_NOISE_PARAMS = {"num_threads", "verbosity", "num_class"}
SORT_KEYS = ("when", "run", "branch", "who")


@dataclass
class Run:
    run: str  # what to call it: experiment or run name, else the short commit
    commit: str
    source: str  # "branch" | "experiment" | "registry" | "worktree"
    branch: str | None
    when: str | None
    who: str
    subject: str
    name: str | None = None
    experiment: str | None = None
    model_md5: str | None = None
    data_md5: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    changed_params: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_from: str = "train"  # "eval" (test set) or "train" (validation split)
    eval_passed: bool | None = None
    versions: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    kind: str = "run"  # "run" (a trained model) | "trial" (an mlx tune trial)
    trial: dict[str, Any] | None = None  # study, number, state, reason, metric, value, best

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunsResult:
    model: str
    model_path: str
    columns: list[str]  # the metrics the table shows (gated first)
    runs: list[Run]
    total: int  # runs before --limit
    refs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_path": self.model_path,
            "metric_columns": self.columns,
            "total": self.total,
            "refs": self.refs,
            "runs": [r.to_dict() for r in self.runs],
        }


def list_runs(
    project: ProjectConfig,
    pattern: str | None = None,
    all_branches: bool = False,
    sort: str | None = None,
    limit: int | None = None,
    passed_only: bool = False,
) -> RunsResult:
    """The runs table (see the module docstring); ``pattern`` matches a run, experiment
    or branch name (shell-style wildcards) or a commit prefix; the model's own name
    means every run."""
    git = Git.discover(project.root)
    cfg = project.config
    head = git.head()
    registry = Registry.load(git)
    path = model_path(project, git, cfg.model.name, head or "HEAD")
    meta_path, eval_path = f"{path}/{METADATA}", f"{path}/{EVAL_METRICS}"
    trials_path = f"{path}/{TRIALS_FILE}"

    refs = _refs(git, all_branches)
    version_commits = _version_commits(registry, cfg.model.name)
    revs = [*refs, *sorted(set(version_commits) - set(refs))]
    entries = git.log_changes(revs, [meta_path, eval_path, trials_path]) if head else []
    blob_ids = {b for e in entries for b in e.blobs.values() if b}
    at_commits = [f"{c}:{meta_path}" for c in [*version_commits, *(["HEAD"] if head else [])]]
    at_commits += [f"HEAD:{trials_path}"] if head else []
    blobs = git.read_objects([*sorted(blob_ids), *at_commits])

    runs, evals = _runs_from_log(entries, blobs, meta_path, eval_path, git.branch())
    version_meta: dict[str, ModelMetadata] = {}
    for commit in version_commits:
        meta = metadata_or_none(blobs.get(f"{commit}:{meta_path}"), f"{meta_path} at {commit[:10]}")
        if meta is None:
            continue
        version_meta[commit] = meta
        if _key(meta) not in runs:
            runs[_key(meta)] = _new_run(meta, commit, "registry", None, 0, "", "")
    _add_worktree_run(project, git, blobs.get(f"HEAD:{meta_path}"), runs)
    trial_rows = _trial_runs(project, entries, blobs, trials_path, git)

    current = _current_params(project)
    for run in runs.values():
        ev = evals.get(run.model_md5 or "")
        if ev is not None:
            run.metrics, run.metrics_from = ev.get("metrics") or run.metrics, "eval"
            run.eval_passed = ev.get("passed") is True
        run.changed_params = _changed(run.params, current)
    _attach_registry(runs.values(), registry, cfg.model.name, version_meta)
    for run in trial_rows:
        run.changed_params = _changed(run.params, current)

    table = [*runs.values(), *trial_rows]
    if pattern and pattern != cfg.model.name:
        table = [r for r in table if _matches(r, pattern)]
        if not table:
            names = sorted(
                {n for r in runs.values() for n in (r.name, r.experiment, r.branch) if n}
            )
            raise UsageError(
                f"no run matches {pattern!r}",
                hint=_hint(pattern, names, "`mlx runs` lists every run"),
            )
    if passed_only:
        table = [r for r in table if r.eval_passed]
    columns = _metric_columns(project, table)
    table = _sorted(table, sort, columns)
    total = len(table)
    if limit is not None:
        table = table[: max(limit, 0)]
    return RunsResult(cfg.model.name, path, columns, table, total, refs)


def _refs(git: Git, all_branches: bool) -> list[str]:
    """HEAD first (so its commits are attributed to the current branch), then the other
    branches when asked, then every DVC experiment."""
    refs = ["HEAD"] if git.head() else []
    if all_branches:
        refs += [r[0] for r in git.for_each_ref("refs/heads/", ["refname"])]
    refs += [r[0] for r in git.for_each_ref(EXP_PREFIX, ["refname"])]
    return refs


def _version_commits(registry: Registry, name: str) -> dict[str, str]:
    art = registry.artifact(name)
    if art is None:
        return {}
    return {v.commit: v.version for v in art.versions.values() if v.registered}


def _runs_from_log(
    entries: list[LogEntry],
    blobs: dict[str, bytes | None],
    meta_path: str,
    eval_path: str,
    branch: str | None,
) -> tuple[dict[str, Run], dict[str, dict[str, Any]]]:
    """Runs keyed by model identity, oldest commit wins (the commit that trained it); eval
    results keyed by the model md5 they evaluated, newest wins."""
    runs: dict[str, Run] = {}
    evals: dict[str, dict[str, Any]] = {}
    sources = {e.commit: e.source for e in entries if e.source}  # git log --source
    for entry in entries:  # newest first
        ev_blob = entry.blobs.get(eval_path)
        if ev_blob:
            ev = json_object(blobs.get(ev_blob))
            md5 = ((ev or {}).get("model") or {}).get("md5")
            if ev is not None and md5 and md5 not in evals:
                evals[md5] = ev
        meta_blob = entry.blobs.get(meta_path)
        meta = (
            metadata_or_none(blobs.get(meta_blob), f"{meta_path} at {entry.commit[:10]}")
            if meta_blob
            else None
        )
        if meta is None:
            continue
        ref = sources.get(entry.commit, "")
        if ref == "HEAD" and branch:
            ref = f"refs/heads/{branch}"
        kind = "experiment" if ref.startswith(EXP_PREFIX) else "branch"
        runs[_key(meta)] = _new_run(
            meta, entry.commit, kind, ref, entry.time, entry.author, entry.subject
        )
    return runs, evals


def _new_run(
    meta: ModelMetadata, commit: str, kind: str, ref: str | None, time: int, who: str, subject: str
) -> Run:
    branch, experiment = None, None
    if ref and ref.startswith(EXP_PREFIX):
        experiment = ref.rsplit("/", 1)[-1]
    elif ref and ref != "HEAD":
        branch = ref.removeprefix("refs/heads/")
    run_info = meta.run
    if run_info and run_info.experiment:
        experiment = experiment or run_info.experiment
    name = run_info.name if run_info else None
    when = meta.trained_at or (
        datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if time else None
    )
    return Run(
        run=experiment or name or commit[:7],
        commit=commit,
        source=kind,
        branch=branch,
        when=when,
        who=who,
        subject=subject,
        name=name,
        experiment=experiment,
        model_md5=meta.onnx.md5 if meta.onnx else None,
        data_md5=meta.data.md5 if meta.data else None,
        params=dict(meta.params),
        overrides=dict(run_info.overrides) if run_info else {},
        metrics=dict(meta.metrics),
    )


def _add_worktree_run(
    project: ProjectConfig, git: Git, committed: bytes | None, runs: dict[str, Run]
) -> None:
    """The model in the work tree, when it is not the one committed at HEAD."""
    file = project.model_dir / METADATA
    if not file.is_file():
        return
    raw = file.read_bytes()
    if committed == raw:
        return
    meta = metadata_or_none(raw, str(file))
    if meta is None or _key(meta) in runs:
        return
    run = _new_run(meta, "", "worktree", None, 0, git.user(), "(not committed)")
    run.run = run.name or "work tree"
    runs[_key(meta)] = run


def _attach_registry(
    runs: Iterable[Run], registry: Registry, name: str, version_meta: dict[str, ModelMetadata]
) -> None:
    art = registry.artifact(name)
    if art is None:
        return
    by_md5: dict[str, Run] = {}
    for run in runs:
        by_md5.setdefault(run.model_md5 or "", run)
    for commit, meta in version_meta.items():
        version = art.at_commit(commit)
        match = by_md5.get(meta.onnx.md5 if meta.onnx else "")
        if version is None or not version.registered or match is None:
            continue
        if version.version not in match.versions:
            match.versions.append(version.version)
        if version.active:
            match.stages += [s for s in art.stages_of(version) if s not in match.stages]


def _key(meta: ModelMetadata) -> str:
    return meta.onnx.md5 if meta.onnx else json.dumps(meta.params, sort_keys=True)


def _current_params(project: ProjectConfig) -> dict[str, Any]:
    """The LightGBM params the current config would train with (as metadata records them)."""
    from mlx.train.fit import effective_params

    cfg = project.config
    params, rounds = effective_params(cfg.model.params, cfg.model.task, cfg.model.seed, None)
    return params | {"num_iterations": rounds}


def _changed(params: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    keys = (set(params) | set(current)) - _NOISE_PARAMS
    return {k: params.get(k) for k in sorted(keys) if params.get(k) != current.get(k)}


def _matches(run: Run, pattern: str) -> bool:
    names = [n for n in (run.name, run.experiment, run.branch, run.run) if n]
    if run.kind == "trial":
        names.append("tune")
    if any(fnmatch.fnmatchcase(n, pattern) for n in names):
        return True
    return len(pattern) >= 4 and bool(run.commit) and run.commit.startswith(pattern)


def _metric_columns(project: ProjectConfig, runs: list[Run]) -> list[str]:
    """Gated metrics first, then the task's headline metrics, when any run has them."""
    cfg = project.config
    tuned = [str(r.trial.get("metric")) for r in runs if r.trial]  # a sweep's metric
    wanted = [*cfg.eval.gates, *HEADLINE[cfg.model.task], *tuned]
    present = {k for r in runs for k in r.metrics}
    return [m for m in dict.fromkeys(wanted) if m in present]


def _sorted(runs: list[Run], sort: str | None, columns: list[str]) -> list[Run]:
    """Newest first by default; a metric sorts best first (its direction is known)."""
    if sort is None or sort == "when":
        return sorted(runs, key=lambda r: r.when or "", reverse=True)
    key = sort.lstrip("-")
    if key in SORT_KEYS:
        return sorted(runs, key=lambda r: getattr(r, key) or "", reverse=sort.startswith("-"))
    known = sorted({*HIGHER_IS_BETTER, *columns})
    if key not in known:
        raise UsageError(
            f"cannot sort by {sort!r}: not a metric or column",
            hint=_hint(key, [*SORT_KEYS, *known], f"use one of {', '.join([*SORT_KEYS, *known])}"),
        )
    best_first = HIGHER_IS_BETTER.get(key, True) != sort.startswith("-")
    have = [r for r in runs if key in r.metrics]
    missing = [r for r in runs if key not in r.metrics]
    return sorted(have, key=lambda r: r.metrics[key], reverse=best_first) + missing


def _hint(name: str, valid: list[str], fallback: str) -> str:
    close = near(name, valid)
    return "did you mean " + " or ".join(repr(c) for c in close) + "?" if close else fallback


def _trial_runs(
    project: ProjectConfig,
    entries: list[LogEntry],
    blobs: dict[str, bytes | None],
    trials_path: str,
    git: Git,
) -> list[Run]:
    """One row per recorded trial: each committed trials table (the oldest commit that
    holds a study wins, as for runs), then the work tree's when it is not HEAD's."""
    rows: dict[tuple[Any, Any], Run] = {}
    task, seed = project.config.model.task, project.config.model.seed
    sources = {e.commit: e.source for e in entries if e.source}
    branch = git.branch()
    for entry in entries:  # newest first; older commits overwrite
        blob = entry.blobs.get(trials_path)
        doc = parse_table(blobs.get(blob)) if blob else None
        if doc is None:
            continue
        ref = sources.get(entry.commit, "")
        if ref == "HEAD" and branch:
            ref = f"refs/heads/{branch}"
        for row in trial_rows(doc, task, seed, entry.commit, ref, entry.author, entry.subject):
            rows[(row["trial"]["study"], row["trial"]["number"])] = Run(**row)
    file = project.model_dir / TRIALS_FILE
    if file.is_file():
        raw = file.read_bytes()
        doc = parse_table(raw) if raw != blobs.get(f"HEAD:{trials_path}") else None
        if doc is not None:
            for row in trial_rows(doc, task, seed, "", None, git.user(), "(not committed)"):
                rows.setdefault((row["trial"]["study"], row["trial"]["number"]), Run(**row))
    return list(rows.values())

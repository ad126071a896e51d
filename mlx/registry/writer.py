"""The registry's write path: lock, ordered tag creation, lineage messages, pushes.

- **One writer at a time.** Every read-compute-write runs under an exclusive lock file
  in the repository's shared git folder, so a second ``mlx promote`` sees the first
  one's tags before it computes a version or counter. Git's refusal to create a tag
  that exists (mlx never passes ``-f``) is the last line of defence.
- **Strictly ordered events.** Git records tag dates in whole seconds and GTO orders
  events by date; a tag written in the same second as the artifact's previous one could
  be read in either order. The writer waits (at most a second) until the clock has
  passed the artifact's newest tag.
- **Structured lineage.** Tag messages start with GTO's default sentence, then a YAML
  block under ``mlx:`` (commit, model and data md5, metrics, who, why, forced).
- **Artifacts before tags.** ``push_artifacts`` pushes the model's DVC files for the
  commit and checks the remote has them; only then are tags created and pushed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.model import ProjectConfig
from mlx.errors import GitError, MlxError, RegistryBusy, RemoteUnreachable, UsageError
from mlx.metadata import ModelMetadata, parse_metadata
from mlx.model_files import METADATA
from mlx.util import yamlsafe

LOCK_NAME = "mlx-registry.lock"
LOCK_TIMEOUT_S = 120.0
MAX_CLOCK_WAIT_S = 2.0
MODEL_FILES = ("model.onnx", "model.lgb.txt")


@contextlib.contextmanager
def registry_lock(git: Git, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the repository's registry lock (shared by all worktrees of the repo)."""
    from filelock import FileLock, Timeout

    path = git.common_dir() / LOCK_NAME
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryBusy(
            f"another mlx process has held {path} for over {timeout:.0f} s",
            hint="wait for it to finish; if none is running, delete the lock file",
        ) from None
    try:
        yield
    finally:
        lock.release()


def wait_past(newest: datetime | None) -> None:
    """Sleep until the wall clock is in a later second than ``newest`` (≤ 2 s)."""
    if newest is None:
        return
    deadline = newest.timestamp() + 1.0
    now = time.time()
    if now >= deadline or deadline - now > MAX_CLOCK_WAIT_S:
        return  # already later, or the newest tag is from a skewed clock: do not hang
    time.sleep(deadline - now + 0.01)


# --- what is at a commit ----------------------------------------------------------------


@dataclass
class CommitFacts:
    """What the committed files say about the model at one commit."""

    commit: str
    model_path: str
    model_md5: str | None = None  # from model.onnx.dvc
    pointers: dict[str, str] = field(default_factory=dict)  # file name → md5
    metadata: ModelMetadata | None = None  # None when absent or not mlx metadata
    eval: dict[str, Any] | None = None  # eval/metrics.json


def read_commit(git: Git, commit: str, model_path: str) -> CommitFacts:
    facts = CommitFacts(commit, model_path)
    for name in MODEL_FILES:
        text = git.show(commit, f"{model_path}/{name}{dvc.POINTER_SUFFIX}")
        if text is not None:
            facts.pointers[name] = dvc.parse_pointer(text, Path(name)).md5
    facts.model_md5 = facts.pointers.get("model.onnx")
    facts.metadata = _metadata_at(git, commit, f"{model_path}/{METADATA}")
    facts.eval = _json_at(git, commit, f"{model_path}/eval/metrics.json")
    return facts


def _metadata_at(git: Git, commit: str, path: str) -> ModelMetadata | None:
    """The commit's model metadata; an old or foreign file reads as none (lineage still
    has the pointers and the eval results)."""
    return metadata_or_none(git.show(commit, path), f"{path} at {commit[:10]}")


def metadata_or_none(raw: bytes | None, origin: str) -> ModelMetadata | None:
    """``metadata.json`` bytes read from history; absent, older or foreign reads as None."""
    if raw is None:
        return None
    try:
        return parse_metadata(raw, origin)
    except MlxError:
        return None


def _json_at(git: Git, commit: str, path: str) -> dict[str, Any] | None:
    return json_object(git.show(commit, path))


def json_object(raw: bytes | None) -> dict[str, Any] | None:
    """A JSON object read from history (``eval/metrics.json``); anything else is None."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def eval_problem(facts: CommitFacts) -> str | None:
    """Why the eval results at the commit do not allow promotion (None: they do)."""
    ev = facts.eval
    where = f"{facts.model_path}/eval/metrics.json"
    if ev is None:
        return (
            f"no eval results at {facts.commit[:10]} ({where} is missing); run `mlx eval --commit`"
        )
    if ev.get("passed") is not True:
        failed = [
            r.get("reason") or f"{r.get('metric')}: {r.get('rule')} {r.get('threshold')}"
            for r in ((ev.get("gates") or {}).get("results") or [])
            if not r.get("passed", True)
        ]
        checks = [
            k for k, v in (ev.get("checks") or {}).items() if not (v or {}).get("passed", True)
        ]
        what = "; ".join(failed + [f"check {c} failed" for c in checks]) or "passed is not true"
        return f"eval gates failed at {facts.commit[:10]}: {what}"
    evaluated = (ev.get("model") or {}).get("md5")
    if evaluated != facts.model_md5:
        return (
            f"eval results at {facts.commit[:10]} are for another model "
            f"(evaluated md5 {evaluated}, model.onnx.dvc md5 {facts.model_md5}); rerun `mlx eval`"
        )
    return None


# --- tag messages -------------------------------------------------------------------------


def lineage_message(
    first_line: str,
    *,
    action: str,
    facts: CommitFacts | None,
    by: str,
    reason: str | None = None,
    forced: bool = False,
    extra: dict[str, Any] | None = None,
) -> str:
    """GTO's sentence, a blank line, then the ``mlx:`` YAML block."""
    block: dict[str, Any] = {"format": 1, "action": action}
    if facts is not None:
        block["commit"] = facts.commit
        block["model"] = {"path": facts.model_path, "md5": facts.model_md5}
        meta = facts.metadata
        data = (meta.data.model_dump() if meta and meta.data else None) or (
            (facts.eval or {}).get("data") or {}
        )
        if data:
            block["data"] = {"path": data.get("path"), "md5": data.get("md5")}
        metrics = (facts.eval or {}).get("metrics") or (meta.metrics if meta else None)
        if metrics:
            block["metrics"] = metrics
        if facts.eval is not None:
            block["eval_passed"] = facts.eval.get("passed") is True
    block.update(extra or {})
    block["by"] = by
    ci = _ci_context()
    if ci:
        block["ci"] = ci
    if reason:
        block["reason"] = reason
    block["forced"] = forced
    body = yaml.safe_dump({"mlx": block}, sort_keys=False, default_flow_style=False, width=1000)
    return f"{first_line}\n\n{body}"


def parse_lineage(message: str) -> dict[str, Any] | None:
    """The ``mlx:`` block of a tag message written by :func:`lineage_message`, or None."""
    _, sep, rest = message.partition("\n\n")
    if not sep:
        return None
    try:
        doc = yamlsafe.safe_load(rest)
    except yaml.YAMLError:
        return None
    block = doc.get("mlx") if isinstance(doc, dict) else None
    return block if isinstance(block, dict) else None


def _ci_context() -> dict[str, str] | None:
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo, run = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    out = {"actor": os.environ.get("GITHUB_ACTOR", "")}
    if repo and run:
        out["run"] = f"{server}/{repo}/actions/runs/{run}"
    return out


# --- pushes -------------------------------------------------------------------------------


def dvc_root(project: ProjectConfig, git: Git) -> Path:
    return project.root if dvc.is_dvc_repo(project.root) else git.root


def push_artifacts(project: ProjectConfig, git: Git, facts: CommitFacts) -> dict[str, Any]:
    """Push the model's DVC-tracked files at ``facts.commit``; verify the remote has them.

    Raises :class:`RemoteUnreachable` (exit 3) when the push fails or the remote still
    lacks a file afterwards: the caller then creates and pushes no tag.
    """
    remote = project.config.storage.remote
    root = dvc_root(project, git)
    targets = [git.root / facts.model_path / f"{n}{dvc.POINTER_SUFFIX}" for n in facts.pointers]
    md5s = list(facts.pointers.values())
    if not md5s:
        raise UsageError(f"nothing to push: no DVC-tracked model files at {facts.commit[:10]}")
    try:
        transferred = dvc.push_at(root, targets, facts.commit, remote=remote)
    except RemoteUnreachable:
        raise
    except Exception as exc:  # DvcError and friends: the push did not happen
        raise RemoteUnreachable(
            f"pushing the model files to the DVC remote failed: {getattr(exc, 'message', exc)}",
            hint="no tag was created or pushed; fix the remote and run the command again",
        ) from None
    missing = dvc.missing_in_remote(root, md5s, remote=remote)
    if missing:
        raise RemoteUnreachable(
            f"the DVC remote still lacks {len(missing)} model file(s) after the push: "
            + ", ".join(missing),
            hint="no tag was created or pushed; check the remote and run the command again",
        )
    return {"dvc_remote": remote or "(default)", "files": len(md5s), "transferred": transferred}


def push_tags(project: ProjectConfig, git: Git, tag_names: list[str]) -> dict[str, Any]:
    """Push the tags, all or none (``git push --atomic``)."""
    remote = project.config.registry.git_remote
    if git.remote_url(remote) is None:
        raise RemoteUnreachable(
            f"git remote {remote!r} is not configured",
            hint=f"`git remote add {remote} URL`, or set registry.git_remote in mlops.yaml; "
            f"tags {', '.join(tag_names)} exist locally",
            details={"tags": tag_names},
        )
    try:
        git.push_refs(remote, [f"refs/tags/{t}" for t in tag_names])
    except (RemoteUnreachable, GitError) as exc:
        exc.hint = f"tags {', '.join(tag_names)} exist locally: `git push {remote} TAG` later"
        exc.details = {"tags": tag_names}
        raise
    return {"git_remote": remote, "tags": tag_names}

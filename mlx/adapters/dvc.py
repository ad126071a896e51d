"""A small adapter over DVC's Python API: the only module that imports ``dvc``.

DVC does the hashing, caching and remote transfers; mlx only asks it to. Pointer files
(``*.dvc``) are read directly as YAML because their format is a stable, documented
contract (``outs: [{md5, size, hash: md5, path}]``) and reading them must stay cheap
on paths (serve, lineage) that should not import DVC at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlx.errors import DataNotAvailable, DvcError, IntegrityError, RemoteUnreachable
from mlx.util import yamlsafe

POINTER_SUFFIX = ".dvc"


@dataclass(frozen=True)
class Pointer:
    """What a ``.dvc`` file says about the one output it tracks."""

    path: Path  # the tracked file, absolute
    md5: str
    size: int | None
    pointer: Path  # the .dvc file itself

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def pointer_path(data_path: Path) -> Path:
    return data_path.with_name(data_path.name + POINTER_SUFFIX)


def parse_pointer(text: str | bytes, pointer: Path) -> Pointer:
    """Parse a ``.dvc`` file's text (e.g. read from an old commit)."""
    try:
        doc = yamlsafe.safe_load(text) or {}
    except yamlsafe.yaml.YAMLError as exc:
        raise DvcError(f"{pointer}: not a valid DVC pointer ({_yaml_problem(exc)})") from None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if (
        not isinstance(outs, list)
        or len(outs) != 1
        or not isinstance(outs[0], dict)
        or "md5" not in outs[0]
    ):
        raise DvcError(f"{pointer}: expected one output with an md5 in a DVC pointer")
    out = outs[0]
    return Pointer(
        path=pointer.parent / out["path"], md5=out["md5"], size=out.get("size"), pointer=pointer
    )


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + str(getattr(exc, "problem", None) or exc)


def read_pointer(data_path: Path) -> Pointer | None:
    """The pointer tracking ``data_path``, or None when it is not DVC-tracked by a .dvc file."""
    ptr = pointer_path(data_path)
    if not ptr.is_file():
        return None
    return parse_pointer(ptr.read_text(encoding="utf-8"), ptr)


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    """The md5 DVC 3 records for a file (``hash: md5``: plain md5 of the bytes)."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_md5s(folder: Path, names: list[str] | None = None) -> dict[str, str]:
    """md5 of the named files (default: every file below ``folder``), by posix rel path."""
    paths = [folder / n for n in names] if names else sorted(p for p in folder.rglob("*"))
    return {p.relative_to(folder).as_posix(): file_md5(p) for p in paths if p.is_file()}


def verify(path: Path, md5: str) -> None:
    actual = file_md5(path)
    if actual != md5:
        raise IntegrityError(
            f"{path} has md5 {actual}, but its DVC pointer says {md5}",
            hint="the file was changed outside DVC; `dvc checkout` restores the tracked version",
        )


def cache_file(root: Path, md5: str, cache: Path | None = None) -> Path:
    """Where DVC 3 keeps a file with this md5: in the repo's default cache, or in
    ``cache`` (a configured ``cache.dir``, see :func:`cache_dir`)."""
    return (cache or root / ".dvc" / "cache") / "files" / "md5" / md5[:2] / md5[2:]


def require_data(path: Path) -> None:
    """Raise a clear, exit-3 error when a data file is not on disk."""
    if path.exists():
        return
    ptr = pointer_path(path)
    if ptr.is_file():
        raise DataNotAvailable(
            f"{path} is tracked by DVC but not in the work tree",
            hint=f"fetch it with `dvc pull {ptr.name}` (from {ptr.parent})",
        )
    raise DataNotAvailable(f"data file not found: {path}", hint="check data paths in mlops.yaml")


# --- operations through DVC's API ---------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep DVC's own log lines and progress bars out of mlx's output."""
    # dvc_data / dvc_objects log through their own loggers (e.g. fetch warnings)
    loggers = [logging.getLogger(n) for n in ("dvc", "dvc_data", "dvc_objects")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    old = os.environ.get("DVC_NO_ANALYTICS")
    os.environ["DVC_NO_ANALYTICS"] = "1"
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if old is None:
            os.environ.pop("DVC_NO_ANALYTICS", None)


@contextlib.contextmanager
def open_repo(root: Path) -> Iterator[Any]:  # a dvc.repo.Repo (dvc ships no type hints)
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.repo import Repo

    with _quiet():
        try:
            repo = Repo(str(root))
        except NotDvcRepoError:
            raise DvcError(
                f"{root} is not a DVC repository", hint="run `mlx init` (or `dvc init`)"
            ) from None
        try:
            yield repo
        except DvcException as exc:
            raise _translate(exc) from None
        finally:
            repo.close()


def _translate(exc: Exception) -> Exception:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "remote" in lowered and ("no remote" in lowered or "not specified" in lowered):
        return RemoteUnreachable(
            f"no DVC remote is configured: {text}", hint="`dvc remote add -d NAME URL`"
        )
    if "failed to push" in lowered or "failed to pull" in lowered or "unable to" in lowered:
        return RemoteUnreachable(f"DVC could not reach the remote: {text}")
    return DvcError(f"DVC: {text}")


def is_dvc_repo(root: Path) -> bool:
    return (root / ".dvc").is_dir()


def init(root: Path, subdir: bool = False) -> None:
    """``dvc init`` in ``root`` (a git work tree), with usage analytics off."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    with _quiet():
        try:
            repo = Repo.init(str(root), subdir=subdir)
        except DvcException as exc:
            raise DvcError(f"dvc init failed: {exc}") from None
        try:
            with repo.config.edit("repo") as conf:
                conf["core"]["analytics"] = False
        finally:
            repo.close()


def remotes(root: Path) -> tuple[dict[str, str], str | None]:
    """Configured remotes (name → url) and the default remote's name."""
    with open_repo(root) as repo:
        conf = repo.config
        return {k: v.get("url", "") for k, v in conf.get("remote", {}).items()}, conf["core"].get(
            "remote"
        )


def set_remote(root: Path, name: str, url: str, default: bool = True) -> None:
    with open_repo(root) as repo, repo.config.edit("repo") as conf:
        conf["remote"][name] = {"url": url}
        if default:
            conf["core"]["remote"] = name


def add(root: Path, paths: Sequence[Path]) -> list[Pointer]:
    """``dvc add`` each path; returns the pointers written."""
    with open_repo(root) as repo:
        repo.add([str(p) for p in paths])
    out = []
    for p in paths:
        ptr = read_pointer(p)
        if ptr is None:
            raise DvcError(f"dvc add did not write a pointer for {p}")
        out.append(ptr)
    return out


def push(root: Path, targets: Sequence[Path], remote: str | None = None) -> int:
    """Push the targets' cached files to the remote; returns how many were transferred."""
    with open_repo(root) as repo:
        return int(repo.push(targets=[str(t) for t in targets], remote=remote) or 0)


def pull(root: Path, targets: Sequence[Path], remote: str | None = None) -> None:
    with open_repo(root) as repo:
        repo.pull(targets=[str(t) for t in targets], remote=remote)


def fetch(
    root: Path, targets: Sequence[Path], remote: str | None = None, rev: str | None = None
) -> int:
    """Bring the targets' files into the local cache (optionally as of commit ``rev``)."""
    with open_repo(root) as repo:
        kwargs = {"revs": [rev], "workspace": False} if rev else {}
        paths = _in_rev(repo, targets) if rev else [str(t) for t in targets]
        result = repo.fetch(targets=paths, remote=remote, **kwargs)
        return int(result or 0)


def _in_rev(repo: Any, targets: Sequence[Path]) -> list[str]:  # a dvc.repo.Repo
    """Work-tree paths as DVC names them inside a commit: rooted at the git top level.

    (For ``revs=[...]`` DVC reads pointers from git, where an absolute work-tree path
    does not exist.)
    """
    top = Path(repo.scm.root_dir).resolve()
    return ["/" + Path(t).resolve().relative_to(top).as_posix() for t in targets]


def push_at(root: Path, targets: Sequence[Path], rev: str, remote: str | None = None) -> int:
    """Push the targets' files as of commit ``rev`` (not the work tree) to the remote.

    ``targets`` are pointer files (absolute, inside the work tree); DVC reads them from
    the commit, where paths are rooted at the git top level.
    """
    with open_repo(root) as repo:
        result = repo.push(
            targets=_in_rev(repo, targets), remote=remote, revs=[rev], workspace=False
        )
        return int(result or 0)


def missing_in_remote(root: Path, md5s: Sequence[str], remote: str | None = None) -> list[str]:
    """Which of these md5s the remote does not hold (asks the remote itself)."""
    from dvc.exceptions import DvcException

    with open_repo(root) as repo:
        try:
            odb = repo.cloud.get_remote_odb(name=remote, command="push")
            return [md5 for md5 in md5s if not odb.exists(md5)]
        except DvcException:
            raise  # open_repo translates these
        except Exception as exc:  # filesystem errors from the remote's backend
            raise RemoteUnreachable(f"could not check the DVC remote: {exc}") from None


# --- dvc.yaml declarations (comment-preserving, through DVC's own YAML round-trip) ------


def declare(
    root: Path,
    artifact: dict[str, Any] | None = None,
    metrics: str | None = None,
    plots: list[dict[str, Any]] | None = None,
) -> bool:
    """Add or update entries in ``dvc.yaml``: an artifact (``{"name", "path", ...}``), a
    metrics file, plot definitions. Returns whether the file changed."""
    with _edit_dvc_yaml(root) as (doc, changed):
        if artifact is not None:
            entry = {k: v for k, v in artifact.items() if k != "name"}
            artifacts = doc.setdefault("artifacts", {})
            if artifacts.get(artifact["name"]) != entry:
                artifacts[artifact["name"]] = entry
        if metrics is not None:
            listed = doc.setdefault("metrics", [])
            if metrics not in listed:
                listed.append(metrics)
        for plot in plots or []:
            listed = doc.setdefault("plots", [])
            keys = {next(iter(p)) if isinstance(p, dict) else p for p in listed}
            if next(iter(plot)) not in keys:
                listed.append(plot)
    return changed()


def stages(root: Path) -> dict[str, Any]:
    """The ``stages:`` of ``dvc.yaml`` as written ({} when there is none)."""
    path = root / "dvc.yaml"
    if not path.is_file():
        return {}
    try:
        doc = yamlsafe.safe_load(path.read_text(encoding="utf-8"))
    except yamlsafe.yaml.YAMLError:
        return {}
    found = doc.get("stages") if isinstance(doc, dict) else None
    return found if isinstance(found, dict) else {}


def set_stages(root: Path, wanted: dict[str, dict[str, Any]]) -> bool:
    """Write these stages into ``dvc.yaml`` (comment-preserving, other stages and
    sections kept). Returns whether the file changed."""
    if all(stages(root).get(name) == spec for name, spec in wanted.items()):
        return False
    with _edit_dvc_yaml(root) as (doc, changed):
        section = doc.setdefault("stages", {})
        for name, spec in wanted.items():
            section[name] = spec
    return changed()


@contextlib.contextmanager
def _edit_dvc_yaml(root: Path) -> Iterator[tuple[Any, Callable[[], bool]]]:
    """DVC's comment-preserving edit of ``dvc.yaml``, refused when the file is not
    bounded, valid YAML; yields the document and a "did the file change" check."""
    from dvc.utils.serialize import modify_yaml

    path = root / "dvc.yaml"
    before = path.read_text(encoding="utf-8") if path.exists() else None
    if before is not None:
        try:
            yamlsafe.compose(before)
        except yamlsafe.yaml.YAMLError as exc:
            raise DvcError(f"{path}: refusing to edit it: {_yaml_problem(exc)}") from None
    with modify_yaml(str(path)) as doc:
        yield doc, lambda: before != path.read_text(encoding="utf-8")


def default_remote(root: Path) -> str | None:
    """The name of the DVC default remote (``core.remote``), or None."""
    return remotes(root)[1]


# --- sharing a cache between work trees ---------------------------------------------------


def cache_dir(root: Path) -> Path:
    """The repo's local cache folder (``.dvc/cache`` unless configured elsewhere)."""
    with open_repo(root) as repo:
        return Path(repo.cache.local_cache_dir)


def use_cache(root: Path, cache: Path) -> None:
    """Point this repo (e.g. a second git work tree) at another repo's cache, in its
    git-ignored ``.dvc/config.local``: data checks out without a remote, and outputs
    added here land where the main work tree finds them."""
    with open_repo(root) as repo, repo.config.edit("local") as conf:
        conf["cache"]["dir"] = str(cache)


def checkout(root: Path, targets: Sequence[Path]) -> None:
    """``dvc checkout`` the targets from the cache; pull them when the cache lacks them."""
    from dvc.exceptions import CheckoutError

    with open_repo(root) as repo:
        try:
            repo.checkout(targets=[str(t) for t in targets])
            return
        except CheckoutError:
            pass
        repo.pull(targets=[str(t) for t in targets])

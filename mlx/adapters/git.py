"""A small adapter over GitPython: the only module that talks to git.

Every call maps git failures to :mod:`mlx.errors` so callers never see GitPython's
exceptions. Reads that must be fast at scale (all tags at once) use one
``git for-each-ref`` pass rather than GitPython's per-object access.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from mlx.errors import GitError, NotAGitRepo, RemoteUnreachable, TagExists

if TYPE_CHECKING:
    import git


@dataclass
class LogEntry:
    """One commit of :meth:`Git.log_changes`; ``blobs`` maps each changed path to its new
    blob id (None when the commit deleted it)."""

    commit: str
    parents: list[str]
    time: int
    author: str
    source: str  # the ref (as given) it was reached from
    subject: str
    blobs: dict[str, str | None]


class Git:
    """A git work tree rooted at ``root``.

    GitPython is imported and its ``Repo`` built only when a method needs it: reads on
    hot paths (``run``, ``for_each_ref``) call the ``git`` executable directly, so that
    ``mlx show`` on a large registry does not pay for GitPython's import.
    """

    def __init__(self, repo: git.Repo | None = None, root: Path | None = None) -> None:
        self._repo_obj = repo
        if root is None:
            if repo is None or repo.working_tree_dir is None:
                raise TypeError("Git needs a repository with a work tree, or a root")
            root = Path(repo.working_tree_dir)
        self.root = Path(root).resolve()

    @property
    def _repo(self) -> git.Repo:
        if self._repo_obj is None:
            import git

            self._repo_obj = git.Repo(self.root)
        return self._repo_obj

    # --- construction ----------------------------------------------------------------

    @classmethod
    def discover(cls, path: Path | str = ".") -> Git:
        """The repository containing ``path``; :class:`NotAGitRepo` if there is none."""
        where = Path(path).resolve()
        start = where if where.is_dir() else where.parent
        proc = _git(["rev-parse", "--show-toplevel"], cwd=start) if start.is_dir() else None
        if proc is None or proc.returncode != 0:
            bare = (
                _git(["rev-parse", "--is-bare-repository"], cwd=start) if start.is_dir() else None
            )
            if bare is not None and bare.returncode == 0:
                raise NotAGitRepo(f"{path} is a bare repository; mlx needs a work tree")
            raise NotAGitRepo(
                f"{where} is not inside a git repository",
                hint="run `mlx init` (or `git init`) first",
            )
        return cls(root=Path(proc.stdout.decode().strip()))

    @classmethod
    def init(cls, path: Path) -> Git:
        import git

        try:
            return cls(git.Repo.init(path, initial_branch="main"))
        except git.GitCommandError as exc:
            raise GitError(f"git init failed in {path}: {exc.stderr.strip()}") from None

    # --- raw access ------------------------------------------------------------------

    def run(self, *args: str, strip: bool = True) -> str:
        """Run ``git ARGS`` in the work tree and return stdout."""
        proc = _git(list(args), cwd=self.root)
        if proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip()
            raise GitError(f"git {' '.join(args[:2])} failed: {stderr}")
        out = proc.stdout.decode(errors="replace")
        return out[:-1] if strip and out.endswith("\n") else out

    # --- state -----------------------------------------------------------------------

    def head(self) -> str | None:
        """The commit HEAD points to, or None in a repository with no commits."""
        try:
            return self._repo.head.commit.hexsha
        except ValueError:
            return None

    def branch(self) -> str | None:
        try:
            return self._repo.active_branch.name
        except TypeError:  # detached HEAD
            return None

    def is_dirty(self, paths: Sequence[str | Path] = (), untracked: bool = False) -> bool:
        """Whether tracked files (optionally limited to ``paths``) differ from HEAD."""
        rel = [str(self.relative(p)) for p in paths]
        if not rel:
            return self._repo.is_dirty(untracked_files=untracked)
        # GitPython takes one path per call
        return any(self._repo.is_dirty(untracked_files=untracked, path=p) for p in rel)

    def dirty_files(self) -> list[str]:
        """Tracked files that differ from HEAD, staged or not."""
        out = self.run("status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in out.splitlines() if line.strip()]

    def relative(self, path: str | Path) -> Path:
        p = Path(path)
        if not p.is_absolute():
            return p
        return p.resolve().relative_to(self.root)

    def is_tracked(self, path: str | Path) -> bool:
        rel = str(self.relative(path))
        return bool(self.run("ls-files", "--", rel))

    def is_ignored(self, path: str | Path) -> bool:
        import git

        try:
            self._repo.git.check_ignore("-q", str(self.relative(path)))
            return True
        except git.GitCommandError:
            return False

    def resolve_commit(self, rev: str) -> str | None:
        """The full commit sha ``rev`` names (tags peeled), or None."""
        import git

        try:
            sha: str = self._repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
            return sha
        except git.GitCommandError:
            return None

    def hooks_dir(self) -> Path:
        """Where git looks for hooks: ``core.hooksPath`` if set, else ``.git/hooks``
        (the common one for linked worktrees)."""
        return (self.root / self.run("rev-parse", "--git-path", "hooks")).resolve()

    def staged_paths(self) -> list[str]:
        """Paths (relative to the root) that the next commit adds, changes or deletes."""
        out = self.run("diff", "--cached", "--name-only", "-z", "--no-renames", strip=False)
        return [p for p in out.split("\0") if p]

    def show(self, rev: str, path: str | PurePath) -> bytes | None:
        """File contents at ``rev`` (None when the file is absent there)."""
        import git

        spec = f"{rev}:{Path(path).as_posix()}"
        try:
            return self._repo.git.execute(["git", "show", spec], stdout_as_string=False)
        except git.GitCommandError:
            return None

    def tree(self, rev: str = "HEAD") -> str:
        """The tree hash of ``rev``: the content address of its tracked files."""
        return self.run("rev-parse", "--verify", f"{rev}^{{tree}}")

    def archive(self, rev: str, dest: Path) -> None:
        """Write the files tracked at ``rev`` as a tar file (``git archive``)."""
        self.run("archive", "--format=tar", f"--output={dest}", rev)

    def user(self) -> str:
        reader = self._repo.config_reader()
        name = reader.get_value("user", "name", default="")
        email = reader.get_value("user", "email", default="")
        return f"{name} <{email}>" if email else str(name)

    # --- history in bulk (mlx runs, mlx diff) ----------------------------------------

    def log_changes(self, revs: Sequence[str], paths: Sequence[str]) -> list[LogEntry]:
        """Every commit reachable from ``revs`` that changed one of ``paths``, newest
        first, with the blob ids it gave those paths: one ``git log --raw`` pass."""
        if not revs:
            return []
        fmt = "%x1e%H%x00%P%x00%at%x00%an%x00%S%x00%s"
        out = self.run(
            "log",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--date-order",
            f"--format={fmt}",
            *revs,
            "--",
            *paths,
            strip=False,
        )
        entries = []
        for record in out.split("\x1e")[1:]:
            head, _, raw = record.partition("\n")
            sha, parents, when, author, source, subject = (head.split("\x00") + [""] * 6)[:6]
            blobs: dict[str, str | None] = {}
            for line in raw.splitlines():
                if not line.startswith(":"):
                    continue
                meta, _, path = line.partition("\t")
                fields = meta.split()
                blobs[path] = None if fields[4].startswith("D") else fields[3]
            entries.append(
                LogEntry(sha, parents.split(), int(when or 0), author, source, subject, blobs)
            )
        return entries

    def read_objects(self, specs: Sequence[str]) -> dict[str, bytes | None]:
        """Contents of many objects (blob ids or ``rev:path``) in one ``git cat-file
        --batch`` pass; a missing object maps to None."""
        unique = list(dict.fromkeys(specs))
        if not unique:
            return {}
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input="".join(f"{s}\n" for s in unique).encode(),
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            raise GitError(f"git cat-file --batch failed: {proc.stderr.decode(errors='replace')}")
        out, pos = proc.stdout, 0
        result: dict[str, bytes | None] = {}
        for spec in unique:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[-1] == b"missing" or header[1] == b"missing":
                result[spec] = None
                continue
            size = int(header[2])
            result[spec] = out[pos : pos + size] if header[1] == b"blob" else None
            pos += size + 1
        return result

    # --- writes ----------------------------------------------------------------------

    def add(self, paths: Iterable[str | Path]) -> None:
        rel = [str(self.relative(p)) for p in paths]
        if rel:
            self.run("add", "--", *rel)

    def commit(self, message: str, paths: Iterable[str | Path] = ()) -> str:
        """Stage ``paths`` and commit only them (other staged changes stay staged)."""
        rel = [str(self.relative(p)) for p in paths]
        if rel:
            self.run("add", "--", *rel)
            self.run("commit", "-q", "-m", message, "--", *rel)
        else:
            self.run("commit", "-q", "-m", message)
        head = self.head()
        assert head is not None
        return head

    # --- tags and remotes (the registry's primitives) --------------------------------

    def common_dir(self) -> Path:
        """The repository's shared git folder (the same for every worktree)."""
        out = self.run("rev-parse", "--git-common-dir")
        p = Path(out)
        return (p if p.is_absolute() else self.root / p).resolve()

    def for_each_ref(self, pattern: str, fields: Sequence[str]) -> list[list[str]]:
        """One ``git for-each-ref`` pass: a row of ``fields`` values per ref under ``pattern``.

        Fields are ``for-each-ref`` atoms without ``%(...)`` (``refname:short``,
        ``objecttype``, ``*objectname``, ``contents``...). Values may contain newlines:
        fields are separated by NUL and records by NUL + RS, which git never puts in
        ref names and tag messages practically never contain.
        """
        fmt = "%00".join(f"%({f})" for f in fields) + "%00%1e"
        out = self.run("for-each-ref", f"--format={fmt}", pattern, strip=False)
        rows = []
        for record in out.split("\x00\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            values = record.split("\x00")
            if len(values) == len(fields):
                rows.append(values)
        return rows

    def create_tag(self, name: str, target: str, message: str) -> None:
        """An annotated tag ``name`` on ``target``; never moves an existing tag.

        :class:`TagExists` when the name is taken (git's own refusal: no ``-f``, ever).
        """
        proc = _git(["tag", "-a", "--cleanup=whitespace", "-m", message, name, target], self.root)
        if proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip()
            if "already exists" in stderr:
                raise TagExists(f"tag {name!r} already exists")
            raise GitError(f"git tag {name} failed: {stderr}")

    def push_refs(self, remote: str, refspecs: Sequence[str], atomic: bool = True) -> None:
        """``git push [--atomic] REMOTE REFSPEC...``: all refs land, or none do."""
        args = ["push", "--quiet", *(["--atomic"] if atomic else []), remote, *refspecs]
        proc = _git(args, self.root)
        if proc.returncode == 0:
            return
        stderr = proc.stderr.decode(errors="replace").strip()
        lowered = stderr.lower()
        unreachable = ("could not read from remote", "does not appear to be", "unable to access")
        if any(s in lowered for s in unreachable):
            raise RemoteUnreachable(f"git remote {remote!r} is unreachable: {stderr}")
        raise GitError(f"git push to {remote!r} failed: {stderr}")

    def fetch_tags(self, remote: str) -> None:
        """Fetch the remote's tags (new ones only: a local tag is never moved or deleted)."""
        self.run("fetch", "--quiet", "--tags", "--no-recurse-submodules", remote)

    def remote_url(self, name: str) -> str | None:
        try:
            return self.run("remote", "get-url", name) or None
        except GitError:
            return None

    # --- branches and extra work trees (retraining in isolation) ----------------------

    def branch_exists(self, name: str) -> bool:
        return self.resolve_commit(f"refs/heads/{name}") is not None

    def create_branch(self, name: str, commit: str) -> None:
        """Create branch ``name`` at ``commit``; refuses to move an existing branch."""
        if self.branch_exists(name):
            raise GitError(f"branch {name!r} already exists")
        self.run("branch", "--no-track", name, commit)

    def add_worktree(self, path: Path, commit: str) -> Git:
        """A detached work tree of ``commit`` at ``path`` (this checkout is untouched)."""
        self.run("worktree", "add", "--detach", "--quiet", str(path), commit)
        return Git.discover(path)

    def remove_worktree(self, path: Path) -> None:
        """Remove a work tree made by :meth:`add_worktree` (its commits stay reachable
        only through branches)."""
        self.run("worktree", "remove", "--force", str(path))
        self.run("worktree", "prune")


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run the git executable (messages in English, as GitPython does, so they parse)."""
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=env)

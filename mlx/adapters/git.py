"""A small adapter over GitPython: the only module that talks to git.

Every call maps git failures to :mod:`mlx.errors` so callers never see GitPython's
exceptions. Reads that must be fast at scale (all tags at once) use one
``git for-each-ref`` pass rather than GitPython's per-object access.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mlx.errors import GitError, NotAGitRepo


class Git:
    """A git work tree rooted at ``root``."""

    def __init__(self, repo) -> None:  # repo: git.Repo (imported lazily)
        self._repo = repo
        self.root = Path(repo.working_tree_dir).resolve()

    # --- construction ----------------------------------------------------------------

    @classmethod
    def discover(cls, path: Path | str = ".") -> Git:
        """The repository containing ``path``; :class:`NotAGitRepo` if there is none."""
        import git

        try:
            repo = git.Repo(Path(path).resolve(), search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise NotAGitRepo(
                f"{Path(path).resolve()} is not inside a git repository",
                hint="run `mlx init` (or `git init`) first",
            ) from None
        if repo.bare or repo.working_tree_dir is None:
            raise NotAGitRepo(f"{path} is a bare repository; mlx needs a work tree")
        return cls(repo)

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
        import git

        try:
            return self._repo.git.execute(["git", *args], strip_newline_in_stdout=strip)
        except git.GitCommandError as exc:
            stderr = (exc.stderr or "").strip().removeprefix("stderr: ").strip("'\n ")
            raise GitError(f"git {' '.join(args[:2])} failed: {stderr}") from None

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
        return self._repo.is_dirty(untracked_files=untracked, path=rel or None)

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
            return self._repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
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

    def show(self, rev: str, path: str | Path) -> bytes | None:
        """File contents at ``rev`` (None when the file is absent there)."""
        import git

        spec = f"{rev}:{Path(path).as_posix()}"
        try:
            return self._repo.git.execute(["git", "show", spec], stdout_as_string=False)
        except git.GitCommandError:
            return None

    def user(self) -> str:
        reader = self._repo.config_reader()
        name = reader.get_value("user", "name", default="")
        email = reader.get_value("user", "email", default="")
        return f"{name} <{email}>" if email else str(name)

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

"""``mlx init``: make a folder an mlx project without destroying anything in it.

Each step checks before it writes and reports what it did (created, updated,
unchanged, skipped). Nothing is committed: git and DVC files are left for the user to
review and commit (``dvc init`` itself stages its own files, as it always does).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlx.adapters import dvc
from mlx.adapters.git import Git
from mlx.config.loader import CONFIG_NAME
from mlx.errors import NotAGitRepo
from mlx.util.atomic import write_text

GITIGNORE_LINES = ["/.venv/", "__pycache__/", "*.pyc", "/logs/", "/.mlx/", "*.tmp"]
DEFAULT_REMOTE = "mlx-local"


@dataclass
class Action:
    what: str
    path: str
    status: str  # created | updated | unchanged | skipped
    note: str | None = None  # why, when the status needs explaining

    def to_dict(self) -> dict[str, str]:
        out = {"what": self.what, "path": self.path, "status": self.status}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class InitResult:
    root: Path
    actions: list[Action] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def add(self, what: str, path: Path | str, status: str, note: str | None = None) -> None:
        p = Path(path)
        inside = p.is_absolute() and (p == self.root or self.root in p.parents)
        rel = os.path.relpath(p, self.root) if inside else str(path)
        self.actions.append(Action(what, rel, status, note))

    @property
    def changed(self) -> bool:
        return any(a.status in ("created", "updated") for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "changed": self.changed,
            "actions": [a.to_dict() for a in self.actions],
            "next_steps": self.next_steps,
        }


def default_remote_dir(root: Path) -> Path:
    """A per-project folder under the user's data dir: works with no set-up, shared by
    clones on the same machine, outside the work tree so git never sees it."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    return base / "mlx" / "remotes" / f"{root.resolve().name}-{digest}"


def init_project(
    path: Path,
    example: bool = False,
    remote: str | None = None,
    hooks: bool = False,
    ci: str | None = None,
) -> InitResult:
    if ci is not None and ci != "github":
        from mlx.errors import UsageError

        raise UsageError(f"--ci {ci!r}: the supported CI is github")
    root = path.resolve()
    result = InitResult(root)
    if not root.exists():
        root.mkdir(parents=True)
        result.add("folder", root, "created")

    git = _ensure_git(root, result)
    _ensure_dvc(root, git, result)
    _ensure_remote(root, remote, result)
    _ensure_gitignore(root, result)
    _ensure_config(root, example, result)
    if example:
        _write_example(root, result)
    _ensure_stages(root, result)
    if ci is not None:
        _ensure_ci(root, git, result)
    if hooks:
        _ensure_hooks(root, git, result)

    staged = [str(p) for p in _to_commit(result)]
    if staged:
        result.next_steps.insert(0, f"git add {' '.join(staged)} && git commit -m 'Set up mlx'")
    if example:
        result.next_steps += [
            "mlx validate",
            "mlx train --commit",
            "mlx eval --commit",
            "mlx promote --stage prod",
        ]
    elif any(a.what == CONFIG_NAME and a.status == "created" for a in result.actions):
        result.next_steps.insert(
            0, f"edit {CONFIG_NAME} (data.train, data.target, model.name, model.task)"
        )
        result.next_steps.insert(1, "dvc add data/train.csv")
    return result


def _ensure_git(root: Path, result: InitResult) -> Git:
    try:
        git = Git.discover(root)
        if git.root == root or not git.is_ignored(root):
            result.add("git repository", git.root, "unchanged")
            return git
        # inside another repo's ignored folder: that repo cannot track us; start our own
        git = Git.init(root)
        result.add("git repository (nested in an ignored folder)", root, "created")
        return git
    except NotAGitRepo:
        git = Git.init(root)
        result.add("git repository", root, "created")
        return git


def _ensure_dvc(root: Path, git: Git, result: InitResult) -> None:
    if dvc.is_dvc_repo(root):
        result.add("DVC repository", root / ".dvc", "unchanged")
        return
    dvc.init(root, subdir=git.root != root)
    result.add("DVC repository (analytics off)", root / ".dvc", "created")


def _ensure_remote(root: Path, url: str | None, result: InitResult) -> None:
    configured, default = dvc.remotes(root)
    if url is None:
        if default:
            result.add(f"DVC remote '{default}'", configured.get(default, ""), "unchanged")
            return
        target = default_remote_dir(root)
        target.mkdir(parents=True, exist_ok=True)
        dvc.set_remote(root, DEFAULT_REMOTE, str(target))
        result.add(f"DVC remote '{DEFAULT_REMOTE}' (local folder)", str(target), "created")
        return
    if url.startswith(("/", "~", ".")) and "://" not in url:
        Path(url).expanduser().mkdir(parents=True, exist_ok=True)
    name = next((n for n, u in configured.items() if u == url), None)
    if name is not None and default == name:
        result.add(f"DVC remote '{name}'", url, "unchanged")
        return
    name = name or ("storage" if "storage" not in configured else f"storage{len(configured)}")
    dvc.set_remote(root, name, url)
    result.add(f"DVC remote '{name}' (default)", url, "updated" if configured else "created")


def _ensure_gitignore(root: Path, result: InitResult) -> None:
    path = root / ".gitignore"
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in existing]
    if not missing:
        result.add(".gitignore", path, "unchanged")
        return
    text = "\n".join(existing).rstrip("\n")
    block = "# mlx\n" + "\n".join(missing)
    write_text(path, (text + "\n\n" if text else "") + block + "\n")
    result.add(".gitignore", path, "updated" if existing else "created")


def _ensure_config(root: Path, example: bool, result: InitResult) -> None:
    path = root / CONFIG_NAME
    if path.exists():
        result.add(CONFIG_NAME, path, "unchanged")
        return
    name = "mlops.example.yaml" if example else "mlops.yaml"
    params = root / "params.yaml"
    if params.exists():  # the user's own DVC params: kept; the config then holds its params
        result.add("params.yaml", params, "skipped", "exists; mlops.yaml keeps model.params")
        write_text(path, _inline_params(name))
    else:
        template = "params.example.yaml" if example else "params.yaml"
        write_text(params, _template(template))
        result.add("params.yaml", params, "created")
        write_text(path, _template(name))
    result.add(CONFIG_NAME, path, "created")


def _template(name: str) -> str:
    return resources.files("mlx.templates").joinpath(name).read_text(encoding="utf-8")


def _inline_params(config_template: str) -> str:
    """The config template with the params file's model keys written inline."""
    params_template = "params.example.yaml" if "example" in config_template else "params.yaml"
    lines = _template(params_template).splitlines(keepends=True)
    body = "".join(line for line in lines[lines.index("model:\n") + 1 :])
    text = "".join(
        line
        for line in _template(config_template).splitlines(keepends=True)
        if not line.startswith(("params_file:", "  # LightGBM params and the seed live"))
    )
    head, sep, tail = text.partition("  task: ")
    task_line, nl, rest = tail.partition("\n")
    return head + sep + task_line + nl + body + rest


def _ensure_stages(root: Path, result: InitResult) -> None:
    """Declare mlx's train and eval stages in dvc.yaml (once; sync keeps them in line)."""
    from mlx.config.loader import load_project
    from mlx.errors import ConfigError
    from mlx.experiments import stages

    try:
        project = load_project(root / CONFIG_NAME)
    except ConfigError as exc:
        result.add("DVC stages train, eval", root / "dvc.yaml", "skipped", exc.message)
        return
    declared = stages.declared(project)
    changed = stages.sync(project, create=True)
    status = "unchanged" if not changed else ("updated" if declared else "created")
    result.add("DVC stages train, eval", root / "dvc.yaml", status)


def _write_example(root: Path, result: InitResult) -> None:
    from mlx.data.example import write_example

    folder = root / "data"
    names = ("train.csv", "live.csv", "live_labels.csv")
    present = [n for n in names if (folder / n).exists() or (folder / (n + ".dvc")).exists()]
    if present:
        for n in names:
            result.add("example data", folder / n, "unchanged" if n in present else "skipped")
        return
    paths = write_example(folder)
    dvc.add(root, list(paths.values()))
    for p in paths.values():
        result.add("example data (DVC-tracked)", p.with_name(p.name + ".dvc"), "created")


def _ensure_ci(root: Path, git: Git, result: InitResult) -> None:
    from mlx.ci import github

    workdir = os.path.relpath(root, git.root)
    configured, default = dvc.remotes(root)
    url = configured.get(default or "")
    for rendered in github.render_all(workdir, url):
        status, note = _write_kept(git.root / rendered.path, rendered.text)
        result.add("GitHub workflow", git.root / rendered.path, status, note)
    result.next_steps.extend(github.setup_steps(url))


def _write_kept(path: Path, text: str) -> tuple[str, str | None]:
    """Write ``text`` to a new file; an existing one is the user's and is kept."""
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return "unchanged", None
        return "skipped", "exists and differs from mlx's template; kept as it is"
    write_text(path, text)
    path.chmod(0o644)
    return "created", None


def _ensure_hooks(root: Path, git: Git, result: InitResult) -> None:
    from mlx.ci import hooks

    for action in hooks.install(git, root / CONFIG_NAME):
        result.add(f"git hook {action.hook}", action.path, action.status, action.note)


def _to_commit(result: InitResult) -> list[str]:
    paths = []
    for action in result.actions:
        if action.status not in ("created", "updated"):
            continue
        if action.path.endswith(
            (".csv.dvc", ".gitignore", CONFIG_NAME, ".yml", "params.yaml", "dvc.yaml")
        ):
            paths.append(action.path)
    if any(a.what.startswith("DVC remote") and a.status != "unchanged" for a in result.actions):
        paths.append(".dvc/config")
    if any(a.path.endswith(".csv.dvc") for a in result.actions):
        paths.append("data/.gitignore")
    return sorted(set(paths))

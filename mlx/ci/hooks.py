"""Git hooks written by ``mlx init --hooks``: install, chain, never clobber.

- Hooks go where git looks for them (``git rev-parse --git-path hooks``), so
  ``core.hooksPath`` is respected.
- A hook file that is not ours is moved to ``<hook>.local`` and called by ours, with the
  same arguments and (for pre-push) the same standard input; its exit code is kept. If
  ``<hook>.local`` exists too, nothing is touched and the step reports why.
- Ours are recognised by their second line (``# mlx-hook: NAME``); installing again
  rewrites them only when the rendered text differs (e.g. a new interpreter path).
- A hook runs ``python -m mlx`` with the interpreter that installed it (GUI git clients
  often run hooks without the project's venv on PATH), else the ``mlx`` on PATH.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mlx import __version__
from mlx.adapters.git import Git
from mlx.util.atomic import atomic_path

HOOKS = ("pre-commit", "pre-push")
MARKER = "# mlx-hook: "
LOCAL_SUFFIX = ".local"


@dataclass(frozen=True)
class HookAction:
    hook: str
    path: Path
    status: str  # created | updated | unchanged | skipped
    note: str | None = None


def render(hook: str, config_rel: str, python: str | None = None) -> str:
    text = resources.files("mlx.templates").joinpath("hooks", hook).read_text("utf-8")
    values = {
        "__MLX_VERSION__": __version__,
        "__CONFIG__": _sh_single_quoted(config_rel),
        "__PYTHON__": _sh_single_quoted(python or sys.executable),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def is_ours(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace").splitlines()[:3]
    except (OSError, IndexError):
        return False
    return any(line.startswith(MARKER) for line in head)


def install(git: Git, config_path: Path) -> list[HookAction]:
    """Install (or refresh) mlx's hooks for the project whose config is ``config_path``."""
    hooks_dir = git.hooks_dir()
    rel = git.relative(config_path.resolve()).as_posix()
    config_rel = rel if "/" in rel else f"./{rel}"
    return [_install_one(hooks_dir, hook, render(hook, config_rel)) for hook in HOOKS]


def _install_one(hooks_dir: Path, hook: str, text: str) -> HookAction:
    target = hooks_dir / hook
    local = hooks_dir / (hook + LOCAL_SUFFIX)
    if not target.exists() and not target.is_symlink():
        _write_executable(target, text)
        return HookAction(hook, target, "created")
    if is_ours(target):
        if target.read_text(encoding="utf-8") == text:
            return HookAction(hook, target, "unchanged")
        _write_executable(target, text)
        return HookAction(hook, target, "updated")
    if local.exists() or local.is_symlink():
        return HookAction(
            hook,
            target,
            "skipped",
            f"{hook} is not mlx's and {local.name} exists too; merge them by hand",
        )
    os.replace(target, local)  # keeps its mode: if it did not run before, it still won't
    _write_executable(target, text)
    return HookAction(hook, target, "updated", f"the existing hook now runs as {local.name}")


def _write_executable(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)


def _sh_single_quoted(value: str) -> str:
    """``value`` for use inside '...' in sh."""
    return value.replace("'", "'\\''")

"""Virtual environments for the peers, created once under ``bench/.venvs/`` and reused.

Each peer gets its own venv so its pins (MLServer needs ``uvloop<0.22``) never touch
the project's environment. A venv counts as ready only when its marker file holds the
exact package list it was built with; a failed or changed install is rebuilt.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.serve.paths import VENVS

MARKER = ".bench-installed"

PEERS: dict[str, list[str]] = {
    "mlflow": ["mlflow", "lightgbm"],
    # MLServer 1.7 fails to load models with uvloop 0.23 (see the team's pitfalls notes)
    "mlserver": ["mlserver", "mlserver-lightgbm", "uvloop<0.22"],
}


@dataclass
class Venv:
    name: str
    path: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name


def ensure(name: str, log=print) -> Venv:
    """Create (or reuse) the venv for peer ``name``; never raises on install failure."""
    packages = PEERS[name]
    path = VENVS / name
    venv = Venv(name, path)
    marker = path / MARKER
    wanted = "\n".join(packages)
    if marker.is_file() and marker.read_text() == wanted and venv.python.exists():
        return venv
    log(f"creating peer venv {path} ({' '.join(packages)}); this takes a few minutes once")
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(path)],
        [
            str(venv.python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-U",
            "pip",
        ],
        [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            venv.error = f"install failed ({' '.join(cmd[-len(packages) :])}): " + " | ".join(tail)
            return venv
    marker.write_text(wanted)
    return venv


def version(venv: Venv, module: str) -> str | None:
    """The installed version of ``module``'s distribution inside ``venv``, or None."""
    code = f"import importlib.metadata as m; print(m.version({module!r}))"
    proc = subprocess.run([str(venv.python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


if __name__ == "__main__":  # python -m bench.serve.venvs: build both peer venvs
    for peer in PEERS:
        v = ensure(peer)
        print(peer, "ok" if v.ok else v.error)

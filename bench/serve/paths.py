"""Where the serving benchmark keeps its things (all git-ignored but the code)."""

from __future__ import annotations

import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENVS = REPO / "bench" / ".venvs"
WORK = REPO / "bench" / ".work" / "serve"
DOC = REPO / "docs" / "benchmarks.md"
# mlx projects must not sit inside this repository's work tree (DVC refuses a
# folder the outer git ignores), so the trained projects live in the temp dir.
PROJECTS = Path(tempfile.gettempdir()) / "mlx-bench-serve"

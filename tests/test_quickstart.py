"""The quickstart is tested by running it: the README's walkthrough and docs/quickstart.md.

Shell blocks marked ``<!-- quickstart -->`` run in order in a temp folder (each from the
folder the previous one ended in) and must succeed; blocks marked
``<!-- quickstart: fails -->`` must fail, and every line of the ``text`` block right after
them must appear in their output. The README's walkthrough must be the quickstart's first
block, word for word.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BLOCK = re.compile(
    r"<!-- quickstart(?P<fails>: fails)? -->\s*\n```bash\n(?P<code>.*?)```"
    r"(?:\s*\n```text\n(?P<expect>.*?)```)?",
    re.S,
)


def blocks(path: Path) -> list[dict]:
    return [m.groupdict() for m in BLOCK.finditer(path.read_text(encoding="utf-8"))]


def test_readme_walkthrough_is_the_quickstart():
    readme, quickstart = blocks(ROOT / "README.md"), blocks(ROOT / "docs" / "quickstart.md")
    assert len(readme) == 1 and len(quickstart) >= 2
    assert readme[0]["code"] == quickstart[0]["code"]


@pytest.mark.slow
def test_quickstart_runs(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cwd = tmp_path
    state = tmp_path / ".cwd"
    for block in blocks(ROOT / "docs" / "quickstart.md"):
        script = f"set -euo pipefail\n{block['code']}\npwd > {state}\n"
        proc = subprocess.run(
            ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
        )
        output = proc.stdout + proc.stderr
        if block["fails"]:
            assert proc.returncode != 0, f"expected a failure:\n{block['code']}\n{output}"
            for line in (block["expect"] or "").strip().splitlines():
                assert line.strip() in output, f"{line!r} not in:\n{output}"
        else:
            assert proc.returncode == 0, f"failed:\n{block['code']}\n{output}"
            cwd = Path(state.read_text().strip())
    project = tmp_path / "churn"
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split(":")[0] for line in log] == ["Eval churn", "Train churn", "Set up mlx"]
    assert (project / ".git" / "hooks" / "pre-push").is_file()
    assert (project / ".github" / "workflows" / "mlx-pr.yml").is_file()

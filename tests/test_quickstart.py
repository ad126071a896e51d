"""The quickstart is tested by running it: the README's walkthrough and docs/quickstart.md.

Shell blocks marked ``<!-- quickstart -->`` run in order in a temp folder (each from the
folder the previous one ended in, with ``set -euo pipefail``) and must exit 0; blocks
marked ``<!-- quickstart: exit N -->`` must exit N, having run to their last line. Every
line of a ``text`` block right after a block must appear in its output. The README's
marked blocks must be the quickstart's first ones, word for word.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BLOCK = re.compile(
    r"<!-- quickstart(?:: exit (?P<exit>\d+))? -->\s*\n```bash\n(?P<code>.*?)```"
    r"(?:\s*\n```text\n(?P<expect>.*?)```)?",
    re.S,
)


def blocks(path: Path) -> list[dict]:
    return [m.groupdict() for m in BLOCK.finditer(path.read_text(encoding="utf-8"))]


def test_readme_walkthrough_is_the_quickstart():
    readme, quickstart = blocks(ROOT / "README.md"), blocks(ROOT / "docs" / "quickstart.md")
    assert len(readme) >= 2 and len(quickstart) > len(readme)
    shape = [(b["code"], b["exit"]) for b in readme]
    assert shape == [(b["code"], b["exit"]) for b in quickstart[: len(readme)]]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jq") is None, reason="the quickstart uses jq")
def test_quickstart_runs(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cwd = tmp_path
    state = tmp_path / ".cwd"
    for block in blocks(ROOT / "docs" / "quickstart.md"):
        expected = int(block["exit"] or 0)
        # the last line's status is the block's; every line before it must succeed
        lines = block["code"].rstrip("\n").split("\n")
        last = max(i for i, line in enumerate(lines) if line.strip() and not line.startswith(" "))
        body = "\n".join(lines[:last])
        script = (
            f"set -euo pipefail\n{body}\npwd > {state}\nset +e\n"
            + "\n".join(lines[last:])
            + "\nexit $?\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == expected, f"exit {proc.returncode}:\n{block['code']}\n{output}"
        assert state.is_file(), f"did not reach the last line:\n{block['code']}\n{output}"
        cwd = Path(state.read_text().strip())
        state.unlink()
        for line in (block["expect"] or "").strip().splitlines():
            assert line.strip() in output, f"{line!r} not in:\n{output}"
    project = tmp_path / "churn"
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split(":")[0] for line in log] == ["Eval churn", "Train churn", "Set up mlx"]
    assert (project / ".git" / "hooks" / "pre-push").is_file()
    assert (project / ".github" / "workflows" / "mlx-pr.yml").is_file()

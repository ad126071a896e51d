"""What mlx's git hooks add to `git commit` and `git push`, against the same operation
with hooks disabled (`git -c core.hooksPath=/dev/null`), in the same repository.

    python -m bench.hooks_bench [--repeats 7] [--write-doc]

The project is `mlx init --example --hooks` (6,000 rows), trained once and tagged like
`mlx promote` does; the DVC remote is a local folder, the git remote a local bare repo,
so the numbers are the hooks' own cost (process start, imports, git reads, the DVC remote
lookup), not the network's. Runs with and without hooks alternate; medians reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from bench._common import BIN, machine, median, run, table, update_doc_section

NO_HOOKS = ["git", "-c", "core.hooksPath=/dev/null"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def setup(work: Path) -> tuple[Path, Path]:
    env_home = work / "home"
    env_home.mkdir()
    root = work / "churn"
    run([str(BIN / "mlx"), "init", str(root), "--example", "--hooks"])
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Set up mlx")
    run([str(BIN / "mlx"), "train", "--commit"], cwd=root)
    _git(root, "tag", "-a", "churn@v0.0.1", "-m", "Registering artifact churn version v0.0.1")
    run([str(BIN / "dvc"), "push", "-q"], cwd=root)
    bare = work / "origin.git"
    _git(work, "init", "-q", "--bare", str(bare))
    _git(root, "remote", "add", "origin", str(bare))
    _git(root, "push", "-q", "origin", "main")
    return root, bare


def _commit_config(root: Path, git: list[str], i: int, data_rule: bool) -> float:
    cfg = root / "mlops.yaml"
    text = cfg.read_text()
    if data_rule:  # a data rule changes: the hook validates the data too
        old, new = ("max: 30}", "max: 31}") if i % 2 == 0 else ("max: 31}", "max: 30}")
    else:  # outside data: the config alone is checked
        old, new = ("seed: 42", "seed: 43") if i % 2 == 0 else ("seed: 43", "seed: 42")
    cfg.write_text(text.replace(old, new, 1))
    _git(root, "add", "mlops.yaml")
    return run([*git, "commit", "-q", "-m", f"change {i}"], cwd=root)


def _push_tag(root: Path, git: list[str]) -> float:
    elapsed = run([*git, "push", "-q", "origin", "churn@v0.0.1"], cwd=root)
    run([*NO_HOOKS, "push", "-q", "origin", ":refs/tags/churn@v0.0.1"], cwd=root)
    return elapsed


def _push_branch(root: Path, git: list[str], i: int) -> float:
    run([*NO_HOOKS, "commit", "-q", "--allow-empty", "-m", f"empty {i}"], cwd=root)
    return run([*git, "push", "-q", "origin", "main"], cwd=root)


def _commit_code(root: Path, git: list[str], i: int) -> float:
    (root / "notes.py").write_text(f"x = {i}\n")
    _git(root, "add", "notes.py")
    return run([*git, "commit", "-q", "-m", f"code {i}"], cwd=root)


CASES = {
    "git commit, code only (mlx not started)": _commit_code,
    "git commit, config change (config checked)": lambda r, g, i: _commit_config(r, g, i, False),
    "git commit, data-rule change (6,000 rows validated)": lambda r, g, i: _commit_config(
        r, g, i, True
    ),
    "git push, a branch": _push_branch,
    "git push, a registry tag (DVC remote checked)": lambda r, g, i: _push_tag(r, g),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlx-hooks-bench-"))
    try:
        root, _ = setup(work)
        rows = []
        for name, case in CASES.items():
            plain, hooked = [], []
            for i in range(args.repeats):
                plain.append(case(root, NO_HOOKS, 2 * i))
                hooked.append(case(root, ["git"], 2 * i + 1))
            p, h = median(plain), median(hooked)
            rows.append(
                [
                    name,
                    f"{p * 1000:.0f}",
                    f"{h * 1000:.0f}",
                    f"{(h - p) * 1000:+.0f}",
                    f"{h / p:.1f}×",
                ]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    headers = ["operation", "no hooks (ms)", "mlx hooks (ms)", "added (ms)", "ratio"]
    out = table(headers, rows)
    print(out)
    if args.write_doc:
        body = (
            f"`python -m bench.hooks_bench --repeats {args.repeats}` on {date.today()}, "
            f"{machine()}, load average {os.getloadavg()[0]:.1f} (other jobs on the "
            f"machine). Medians; hooks disabled with `git -c core.hooksPath=/dev/null` "
            "in the same repository, runs alternating. Local DVC remote and bare git remote: "
            "the hooks' own cost.\n\n" + out
        )
        update_doc_section("Git hooks (mlx init --hooks)", body)


if __name__ == "__main__":
    main()

"""`mlx init`: real git and DVC in temp folders; idempotent; commits nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import git


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if (
            p.is_file()
            and ".git/" not in str(p)
            and "/.dvc/tmp" not in str(p)
            and "/.dvc/cache" not in str(p)
        ):
            out[str(p.relative_to(root))] = hashlib.md5(p.read_bytes()).hexdigest()
    return out


def test_init_example_creates_a_working_project(cli, tmp_path):
    root = tmp_path / "proj"
    res = cli("init", str(root), "--example", "--json")
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["ok"] and doc["changed"]
    assert (root / ".git").is_dir() and (root / ".dvc").is_dir()
    assert "analytics = False" in (root / ".dvc" / "config").read_text()
    for name in ("train.csv", "live.csv", "live_labels.csv"):
        assert (root / "data" / name).is_file()
        assert (root / "data" / f"{name}.dvc").is_file()
    # data is git-ignored, the pointers are not
    ignored = git(root, "check-ignore", "data/train.csv")
    assert ignored == "data/train.csv"
    # nothing committed
    assert git(root, "rev-list", "--all") == ""
    assert any("git commit" in step for step in doc["next_steps"])
    # the default remote works with no set-up: dvc push succeeds
    import subprocess
    import sys

    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "push", "-q"], cwd=root, check=True, capture_output=True)


def test_init_twice_changes_nothing(cli, tmp_path):
    root = tmp_path / "proj"
    assert cli("init", str(root), "--example").exit_code == 0
    before = _snapshot(root)
    res = cli("init", str(root), "--example", "--json")
    assert res.exit_code == 0
    doc = res.json()
    assert doc["changed"] is False
    assert {a["status"] for a in doc["actions"]} <= {"unchanged", "skipped"}
    assert _snapshot(root) == before


def test_init_keeps_existing_files(cli, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text("secrets.env\n")
    (root / "mlops.yaml").write_text("# mine\n")
    res = cli("init", str(root), "--json")
    assert res.exit_code == 0, res.output
    assert (root / "mlops.yaml").read_text() == "# mine\n"
    gitignore = (root / ".gitignore").read_text()
    assert gitignore.startswith("secrets.env\n") and "/.venv/" in gitignore
    statuses = {a["path"]: a["status"] for a in res.json()["actions"]}
    assert statuses["mlops.yaml"] == "unchanged"
    assert statuses[".gitignore"] == "updated"


def test_init_with_remote_url(cli, tmp_path):
    root, remote = tmp_path / "proj", tmp_path / "remote"
    res = cli("init", str(root), "--remote", str(remote))
    assert res.exit_code == 0, res.output
    config = (root / ".dvc" / "config").read_text()
    assert str(remote) in config and "remote = storage" in config


def test_atomic_writes_keep_normal_file_modes(tmp_path):
    import os
    import stat

    from mlx.util.atomic import write_text

    new = tmp_path / "new.txt"
    write_text(new, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~mask
    existing = tmp_path / "script.sh"
    existing.write_text("old")
    existing.chmod(0o755)
    write_text(existing, "new")
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755 and existing.read_text() == "new"

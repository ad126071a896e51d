"""`mlx init --hooks`: real git hooks in real repos, chained with existing ones."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, run_mlx
from tests.helpers import config, make_project, synthetic

FOREIGN = """#!/bin/sh
# someone else's hook
printf '%s\\n' "$*" > "{log}.args"
cat > "{log}.stdin"
exit {code}
"""


def _commit(root: Path, message: str = "change") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "commit", "-q", "-m", message], cwd=root, capture_output=True, text=True
    )


def _hooks(cli, root: Path):
    res = cli("init", str(root), "--hooks", "--json")
    assert res.exit_code == 0, res.output
    return {a["what"]: a for a in res.json()["actions"] if a["what"].startswith("git hook")}


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "proj", synthetic("binary", n=400), config("binary"))


def test_hooks_are_installed_executable_and_idempotent(cli, project):
    actions = _hooks(cli, project)
    assert {a["status"] for a in actions.values()} == {"created"}
    for name in ("pre-commit", "pre-push"):
        hook = project / ".git" / "hooks" / name
        assert hook.stat().st_mode & stat.S_IXUSR
        assert f"# mlx-hook: {name}" in hook.read_text()
    again = _hooks(cli, project)
    assert {a["status"] for a in again.values()} == {"unchanged"}


def test_existing_hooks_are_kept_and_chained(cli, project, tmp_path):
    hooks = project / ".git" / "hooks"
    log = tmp_path / "foreign"
    for name, code in (("pre-commit", 0), ("pre-push", 0)):
        (hooks / name).write_text(FOREIGN.format(log=f"{log}-{name}", code=code))
        (hooks / name).chmod(0o755)
    actions = _hooks(cli, project)
    for name in ("pre-commit", "pre-push"):
        assert actions[f"git hook {name}"]["status"] == "updated"
        assert f"{name}.local" in actions[f"git hook {name}"]["note"]
        assert "someone else's hook" in (hooks / f"{name}.local").read_text()
    # a commit runs ours, then theirs
    (project / "notes.txt").write_text("x\n")
    git(project, "add", "notes.txt")
    assert _commit(project).returncode == 0
    assert Path(f"{log}-pre-commit.args").exists()
    # a push gives theirs the same arguments and standard input git gave ours
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    git(project, "push", "-q", "origin", "main")
    assert Path(f"{log}-pre-push.args").read_text().split() == ["origin", str(bare)]
    head = git(project, "rev-parse", "HEAD")
    assert Path(f"{log}-pre-push.stdin").read_text().split() == [
        "refs/heads/main",
        head,
        "refs/heads/main",
        "0" * 40,
    ]
    # a failing chained hook still blocks, with its own exit code
    (hooks / "pre-commit.local").write_text(FOREIGN.format(log=log, code=7))
    proc = subprocess.run([str(hooks / "pre-commit")], cwd=project, capture_output=True)
    assert proc.returncode == 7
    # installing again leaves both alone
    again = _hooks(cli, project)
    assert {a["status"] for a in again.values()} == {"unchanged"}
    assert "exit 7" in (hooks / "pre-commit.local").read_text()


def test_a_foreign_hook_with_a_local_twin_is_not_touched(cli, project):
    hooks = project / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit.local").write_text("#!/bin/sh\nexit 0\n")
    actions = _hooks(cli, project)
    assert actions["git hook pre-commit"]["status"] == "skipped"
    assert "by hand" in actions["git hook pre-commit"]["note"]
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"


def test_core_hooks_path_is_respected(cli, project):
    git(project, "config", "core.hooksPath", "githooks")
    _hooks(cli, project)
    assert (project / "githooks" / "pre-commit").is_file()
    assert not (project / ".git" / "hooks" / "pre-commit").exists()


def test_pre_commit_blocks_a_broken_staged_config(cli, project):
    _hooks(cli, project)
    cfg = project / "mlops.yaml"
    good = cfg.read_text()
    cfg.write_text(good.replace("model:", "modle:"))
    git(project, "add", "mlops.yaml")
    proc = _commit(project)
    assert proc.returncode != 0
    assert "modle: unknown key (did you mean 'model'?)" in proc.stderr
    # fixing the work tree without staging the fix does not let the broken file through
    cfg.write_text(good)
    proc = _commit(project)
    assert proc.returncode != 0 and "modle" in proc.stderr
    git(project, "add", "mlops.yaml")
    proc = _commit(project)
    assert proc.returncode != 0 and "nothing to commit" in proc.stdout  # back to HEAD


def test_pre_commit_checks_data_only_when_it_changed(project):
    cfg = project / "mlops.yaml"
    # a change outside data: config checked, data not
    cfg.write_text(cfg.read_text().replace("seed: 7", "seed: 8"))
    git(project, "add", "mlops.yaml")
    res = run_mlx("hook", "pre-commit", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["data_checked"] is False and doc["config"]["source"] == "index"
    # stricter data rules: the data is checked, and fails
    text = cfg.read_text().replace(
        "target: y", "target: y\n  columns:\n    x2: {type: float, max: 5}"
    )
    cfg.write_text(text)
    git(project, "add", "mlops.yaml")
    res = run_mlx("hook", "pre-commit", "--json", cwd=project)
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["data_checked"] and "data rules" in doc["reasons"][0]
    assert doc["data"]["failures"][0]["column"] == "x2"


def test_pre_commit_refuses_data_that_is_not_what_the_staged_pointer_names(project):
    data = project / "data" / "train.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[1] + "\n")
    subprocess.run(
        [str(Path(sys.executable).with_name("dvc")), "add", "-q", str(data)],
        cwd=project,
        check=True,
    )
    git(project, "add", "data/train.csv.dvc")
    data.write_text(data.read_text().replace("red", "RED", 1))  # after staging
    res = run_mlx("hook", "pre-commit", "--json", cwd=project)
    assert res.exit_code == 1
    assert "not the version its staged pointer names" in res.json()["error"]["message"]


def test_pre_push_lets_branches_through_without_asking_dvc(project):
    head = git(project, "rev-parse", "HEAD")
    stdin = f"refs/heads/main {head} refs/heads/main {'0' * 40}\n"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mlx")), "hook", "pre-push", "origin", "x", "--json"],
        cwd=project,
        input=stdin,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tags"] == []


@pytest.mark.slow
def test_pre_push_refuses_registry_tags_until_their_files_are_in_the_remote(cli, project, tmp_path):
    _hooks(cli, project)
    res = run_mlx("train", "--commit", cwd=project)
    assert res.exit_code == 0, res.output
    git(project, "tag", "-a", "m@v0.1.0", "-m", "Registering artifact m version v0.1.0")
    git(project, "tag", "-a", "m#prod#1", "-m", "Assigning stage prod to artifact m")
    git(project, "tag", "-a", "not-a-model-tag", "-m", "release notes")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    assert subprocess.run(["git", "push", "-q", "origin", "main"], cwd=project).returncode == 0
    # a tag that is no registry tag is not our business
    proc = subprocess.run(
        ["git", "push", "origin", "not-a-model-tag"], cwd=project, capture_output=True
    )
    assert proc.returncode == 0
    proc = subprocess.run(
        ["git", "push", "origin", "m#prod#1"], cwd=project, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "refused" in proc.stderr and "models/m/model.onnx" in proc.stderr
    assert "data/train.csv" in proc.stderr and "dvc push" in proc.stderr
    assert "m#prod#1" not in git(project, "ls-remote", "--tags", str(bare))
    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "push", "-q"], cwd=project, check=True)
    proc = subprocess.run(
        ["git", "push", "origin", "m#prod#1", "m@v0.1.0"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "m#prod#1" in git(project, "ls-remote", "--tags", str(bare))


def test_hooks_skip_mlx_when_nothing_relevant_changes(cli, project, tmp_path):
    """Code-only commits and branch pushes never start Python; when they need mlx and it
    cannot be found, the hooks say so and block."""
    _hooks(cli, project)
    hooks = project / ".git" / "hooks"
    for name in ("pre-commit", "pre-push"):  # as if the venv that installed them was deleted
        text = (hooks / name).read_text()
        (hooks / name).write_text(text.replace(sys.executable, str(tmp_path / "gone/python")))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no mlx on PATH either

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=project, env=env, capture_output=True, text=True)

    (project / "train.py").write_text("print('hi')\n")
    git(project, "add", "train.py")
    assert run("git", "commit", "-q", "-m", "code").returncode == 0
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    assert run("git", "push", "-q", "origin", "main").returncode == 0
    git(project, "tag", "-a", "release-1", "-m", "not a registry tag")
    assert run("git", "push", "-q", "origin", "release-1").returncode == 0

    cfg = project / "mlops.yaml"
    cfg.write_text(cfg.read_text().replace("seed: 7", "seed: 8"))
    git(project, "add", "mlops.yaml")
    proc = run("git", "commit", "-q", "-m", "config")
    assert proc.returncode != 0 and "mlx not found" in proc.stderr
    git(project, "tag", "-a", "m@v0.0.1", "-m", "Registering artifact m version v0.0.1")
    proc = run("git", "push", "-q", "origin", "m@v0.0.1")
    assert proc.returncode != 0 and "mlx not found" in proc.stderr


@pytest.mark.slow
def test_pre_push_finds_a_model_in_a_project_subfolder(cli, tmp_path):
    repo = tmp_path / "mono"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README.md").write_text("monorepo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "start")
    project = make_project(repo / "ml" / "m", synthetic("binary", n=300), config("binary"))
    _hooks(cli, project)
    assert "'ml/m/mlops.yaml'" in (repo / ".git" / "hooks" / "pre-push").read_text()
    res = run_mlx("train", "--commit", cwd=project)
    assert res.exit_code == 0, res.output
    git(repo, "tag", "-a", "m@v0.1.0", "-m", "Registering artifact m version v0.1.0")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    proc = subprocess.run(
        ["git", "push", "origin", "m@v0.1.0"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "ml/m/models/m/model.onnx" in proc.stderr and "ml/m/data/train.csv" in proc.stderr
    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "push", "-q"], cwd=project, check=True)
    proc = subprocess.run(
        ["git", "push", "origin", "m@v0.1.0"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_pre_commit_config_check_imports_nothing_heavy(project):
    from tests.test_cli import _imported_modules

    cfg = project / "mlops.yaml"
    cfg.write_text(cfg.read_text().replace("seed: 7", "seed: 8"))
    git(project, "add", "mlops.yaml")
    loaded = _imported_modules("hook", "pre-commit", cwd=project)
    heavy = {"pandas", "lightgbm", "sklearn", "dvc", "onnx", "onnxruntime", "pandera", "scipy"}
    assert not loaded & heavy, sorted(loaded & heavy)

"""`--push` to a real local-directory DVC remote and a bare git remote; fresh clones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import git
from tests.registry_helpers import commit_model, run_tool, tags

pytestmark = pytest.mark.slow


def _remote_tags(origin: Path) -> list[str]:
    out = git(origin, "for-each-ref", "--format=%(refname:lstrip=2)", "refs/tags")
    return sorted(out.split())


def _in_remote(remote: Path, md5: str) -> bool:
    return (remote / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@pytest.fixture
def remotes(example_project: Path, tmp_path: Path):
    """The project with its own DVC remote folder and a bare git `origin`."""
    p = example_project
    dvc_remote = tmp_path / "dvc-remote"
    run_tool(p, "dvc", "remote", "add", "-d", "-f", "store", str(dvc_remote))
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(p, "remote", "add", "origin", f"file://{origin}")
    git(p, "add", "-A")
    git(p, "commit", "-q", "-m", "DVC remote")
    git(p, "push", "-q", "origin", "main")
    return p, dvc_remote, origin


def test_push_sends_model_files_then_tags(cli, remotes):
    p, dvc_remote, origin = remotes
    content = b"the prod model bytes\n" * 100
    commit_model(p, content=content)
    res = cli("promote", "--stage", "prod", "--push", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["pushed"]["tags"] == ["churn@v0.0.1", "churn#prod#1"]
    assert _in_remote(dvc_remote, hashlib.md5(content).hexdigest())
    native = (p / "models/churn/model.lgb.txt").read_bytes()
    assert _in_remote(dvc_remote, hashlib.md5(native).hexdigest())
    assert _remote_tags(origin) == ["churn#prod#1", "churn@v0.0.1"]
    # an already registered commit promoted to another stage pushes its version tag too
    res = cli("promote", "--stage", "staging", "--push", "--json", cwd=p)
    assert res.json()["pushed"]["tags"] == ["churn@v0.0.1", "churn#staging#2"]
    assert "churn#staging#2" in _remote_tags(origin)


def test_unreachable_dvc_remote_means_no_tag_anywhere(cli, remotes, tmp_path):
    p, _, origin = remotes
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the remote's folder should be")
    run_tool(p, "dvc", "remote", "add", "-d", "-f", "store", str(blocker / "remote"))
    commit_model(p)
    res = cli("promote", "--stage", "prod", "--push", "--json", cwd=p)
    assert res.exit_code == 3, res.output
    err = res.json()["error"]
    assert err["type"] == "RemoteUnreachable" and "no tag" in err["hint"]
    assert tags(p) == []  # not even locally
    assert _remote_tags(origin) == []


def test_unreachable_git_remote_keeps_local_tags_and_says_so(cli, remotes, tmp_path):
    p, dvc_remote, _ = remotes
    git(p, "remote", "set-url", "origin", f"file://{tmp_path / 'gone.git'}")
    content = b"bytes that reach the DVC remote\n"
    commit_model(p, content=content)
    res = cli("promote", "--stage", "prod", "--push", "--json", cwd=p)
    assert res.exit_code == 3, res.output
    err = res.json()["error"]
    assert err["details"]["tags"] == ["churn@v0.0.1", "churn#prod#1"]
    assert "git push" in err["hint"]
    assert tags(p) == ["churn#prod#1", "churn@v0.0.1"]
    assert _in_remote(dvc_remote, hashlib.md5(content).hexdigest())


def test_fresh_clone_and_dvc_pull_give_the_prod_bytes_and_lineage(cli, remotes, tmp_path):
    p, _, origin = remotes
    prod = b"version one, promoted to prod\n" * 64
    commit_model(p, content=prod)
    assert cli("promote", "--stage", "prod", "--push", cwd=p).exit_code == 0
    commit_model(p, content=b"version two, staging only\n" * 64)
    assert cli("promote", "--stage", "staging", "--push", cwd=p).exit_code == 0
    git(p, "push", "-q", "origin", "main")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(clone))
    assert not (clone / "models/churn/model.onnx").exists()
    git(clone, "checkout", "-q", "churn#prod#1")
    run_tool(clone, "dvc", "pull", "-q", "models/churn/model.onnx.dvc")
    assert (clone / "models/churn/model.onnx").read_bytes() == prod
    git(clone, "checkout", "-q", "main")

    res = cli("lineage", "churn#prod", "--json", cwd=clone)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["version"] == "v0.0.1" and doc["stages"] == ["prod"]
    assert doc["model"]["md5"] == hashlib.md5(prod).hexdigest()
    assert doc["data"]["md5"] and doc["seed"] == 42 and doc["metrics"]["auc"]
    assert doc["registration"]["lineage"]["model"]["md5"] == doc["model"]["md5"]
    assert doc["runner"]["name"] == "local" and doc["packages"]["mlx"]
    staging = cli("lineage", "churn#staging", "--json", cwd=clone).json()
    assert staging["parent"]["version"] == "v0.0.1"

    # open_model in the clone fetches the exact bytes from the DVC remote into the cache
    from mlx import api

    local = api.open_model("churn#prod", config=clone / "mlops.yaml")
    assert local.onnx_path.read_bytes() == prod
    assert local.metadata.name == "churn" and local.resolved.version == "v0.0.1"

"""The resolver (every reference kind, after unassign/deprecation) and open_model."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from mlx.config import load_project
from mlx.errors import DataNotAvailable, IntegrityError, RefError
from mlx.registry.materialize import open_model
from mlx.registry.refs import resolve
from tests.conftest import git
from tests.registry_helpers import commit_model, run_tool


def _promote(cli, project, *args):
    res = cli("promote", *args, cwd=project)
    assert res.exit_code == 0, res.output


def test_every_reference_kind(cli, example_project):
    p = example_project
    first = commit_model(p)
    _promote(cli, p, "--stage", "prod")
    second = commit_model(p)
    _promote(cli, p, "--stage", "staging")
    project = load_project(p / "mlops.yaml")

    def r(ref):
        return resolve(project, ref)

    assert r(None).kind == "workspace" and r(None).folder == p / "models/churn"
    assert (r("churn#prod").commit, r("churn#prod").version) == (first, "v0.0.1")
    assert r("churn#prod").tag == "churn#prod#1"
    assert r("churn#staging").version == "v0.0.2"
    assert (r("churn@v0.0.1").kind, r("churn@v0.0.1").commit) == ("version", first)
    assert r("churn@latest").version == "v0.0.2" and r("churn@greatest").commit == second
    tag = r("churn#prod#1")
    assert (tag.kind, tag.stage, tag.version) == ("tag", "prod", "v0.0.1")
    assert r("refs/tags/churn@v0.0.2").commit == second
    assert (r(first[:8]).kind, r(first[:8]).version) == ("commit", "v0.0.1")
    assert r("main").commit == second and r("HEAD~1").commit == first
    folder = r("models/churn")
    assert folder.kind == "path" and folder.commit is None
    assert r(str(p / "models" / "churn")).folder == (p / "models/churn").resolve()
    assert r("churn#prod").model_path == "models/churn"

    for bad, words in [
        ("churn#dev", "ever assigned"),
        ("churn@v9.9.9", "no version v9.9.9"),
        ("fraud#prod", "no artifact 'fraud'"),
        ("no-such-thing", "cannot resolve"),
    ]:
        with pytest.raises(RefError, match=words):
            r(bad)
    with pytest.raises(RefError) as info:
        r("churn")
    assert "churn@latest" in info.value.hint


def test_resolution_after_unassign_deregistration_and_deprecation(cli, example_project):
    """GTO's semantics, not dvc.api's: the newest assignment not unassigned since."""
    p = example_project
    commit_model(p)
    _promote(cli, p, "--stage", "prod")
    commit_model(p)
    _promote(cli, p, "--stage", "prod")
    project = load_project(p / "mlops.yaml")
    assert resolve(project, "churn#prod").version == "v0.0.2"
    cli("demote", "churn", "--stage", "prod", cwd=p)  # churn#prod!#3 is now the newest tag
    assert resolve(project, "churn#prod").version == "v0.0.1"
    cli("deprecate", "churn", "v0.0.1", cwd=p)  # deregister the fallback holder
    with pytest.raises(RefError, match="no version of churn is in stage 'prod'"):
        resolve(project, "churn#prod")
    with pytest.raises(RefError, match="deregistered"):
        resolve(project, "churn@v0.0.1")
    assert resolve(project, "churn@latest").version == "v0.0.2"
    cli("deprecate", "churn", cwd=p)
    for ref in ("churn@latest", "churn#prod"):
        with pytest.raises(RefError, match="deprecated"):
            resolve(project, ref)
    pinned = resolve(project, "churn@v0.0.2")  # explicit versions still resolve, flagged
    assert pinned.version == "v0.0.2" and pinned.deprecated is True


def test_open_model_from_cache_then_from_the_remote(cli, example_project, tmp_path):
    p = example_project
    run_tool(p, "dvc", "remote", "add", "-d", "-f", "store", str(tmp_path / "remote"))
    prod = b"prod bytes\n" * 100
    commit_model(p, content=prod)
    _promote(cli, p, "--stage", "prod")
    run_tool(p, "dvc", "push", "-q")
    commit_model(p)  # the work tree moves on
    project = load_project(p / "mlops.yaml")

    local = open_model(project, resolve(project, "churn#prod"))
    assert local.onnx_path.read_bytes() == prod
    assert local.folder == p / ".mlx/models/churn/v0.0.1"
    assert local.md5 == hashlib.md5(prod).hexdigest() and local.metadata.seed == 42
    assert git(p, "status", "--porcelain") == ""  # .mlx/ is git-ignored
    assert open_model(project, resolve(project, "churn@v0.0.1")).folder == local.folder

    def drop_cache():
        shutil.rmtree(p / ".mlx")
        cache = p / ".dvc/cache/files/md5" / local.md5[:2] / local.md5[2:]
        cache.chmod(stat.S_IWUSR | stat.S_IRUSR)
        cache.unlink()

    # not in the cache: fetched from the DVC remote for that commit, verified
    drop_cache()
    again = open_model(project, resolve(project, "churn#prod"))
    assert again.onnx_path.read_bytes() == prod
    # in neither the cache nor the remote: an exit-3 error naming the fix
    drop_cache()
    shutil.rmtree(tmp_path / "remote")
    with pytest.raises(DataNotAvailable, match="neither in the DVC cache"):
        open_model(project, resolve(project, "churn#prod"))


def test_open_model_detects_corrupt_bytes(cli, example_project):
    p = example_project
    commit_model(p, content=b"good bytes\n" * 10)
    _promote(cli, p, "--stage", "dev")
    project = load_project(p / "mlops.yaml")
    # the work-tree model is checked against its pointer
    target = p / "models/churn/model.onnx"
    os.chmod(target, 0o644)
    target.write_bytes(b"tampered\n")
    with pytest.raises(IntegrityError):
        open_model(project, resolve(project, None))
    # so is a corrupt cache file behind a registry reference
    md5 = hashlib.md5(b"good bytes\n" * 10).hexdigest()
    cache = p / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cache.chmod(0o644)
    cache.write_bytes(b"rotten\n")
    with pytest.raises(IntegrityError, match="expected"):
        open_model(project, resolve(project, "churn#dev"))


def test_model_folder_of_another_artifact_comes_from_dvc_yaml(cli, example_project):
    p = example_project
    (p / "fraud.yaml").write_text(
        (p / "mlops.yaml").read_text().replace("name: churn", "name: fraud")
    )
    commit_model(p, name="fraud")
    _promote(cli, p, "--config", "fraud.yaml", "--stage", "prod")
    project = load_project(p / "mlops.yaml")  # configured for churn
    resolved = resolve(project, "fraud#prod")
    assert resolved.name == "fraud" and resolved.model_path == "models/fraud"
    assert open_model(project, resolved).metadata.name == "fraud"
    assert Path(open_model(project, resolved).folder).name == "v0.0.1"


def test_project_in_a_subfolder_of_the_repository(cli, tmp_path):
    """mlops.yaml in mono/churn, git at mono/: paths in commits are relative to mono/."""
    from mlx import api

    mono = tmp_path / "mono"
    mono.mkdir()
    git(mono, "init", "-q")
    (mono / "README").write_text("a monorepo\n")
    api.init(mono / "churn", example=True)
    run_tool(mono / "churn", "dvc", "remote", "add", "-d", "-f", "store", str(tmp_path / "remote"))
    git(mono, "add", "-A")
    git(mono, "commit", "-q", "-m", "monorepo with an mlx project")
    p = mono / "churn"
    prod = b"subfolder model\n" * 20
    sha = commit_model(p, content=prod)
    res = cli("promote", "--stage", "prod", "--json", cwd=p)
    assert res.exit_code == 0, res.output
    project = load_project(p / "mlops.yaml")
    resolved = resolve(project, "churn#prod")
    assert (resolved.commit, resolved.model_path) == (sha, "churn/models/churn")
    assert cli("lineage", "churn#prod", "--json", cwd=p).json()["model"]["md5"] == (
        hashlib.md5(prod).hexdigest()
    )
    commit_model(p)
    from mlx.adapters.git import Git
    from mlx.registry.writer import push_artifacts, read_commit

    facts = read_commit(Git.discover(p), sha, resolved.model_path)
    assert push_artifacts(project, Git.discover(p), facts)["files"] == 2
    assert (tmp_path / "remote/files/md5" / facts.model_md5[:2] / facts.model_md5[2:]).is_file()
    assert open_model(project, resolved).onnx_path.read_bytes() == prod

"""`mlx promote`: versions, stages, every refusal, --force --reason, rollback, demote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.registry_helpers import commit_model, tag_message, tags


@pytest.fixture
def project(example_project: Path) -> Path:
    return example_project


def test_promote_registers_then_assigns(cli, project):
    sha = commit_model(project)
    res = cli("promote", "--stage", "staging", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["version"] == "v0.0.1" and doc["registered"] is True
    assert doc["tags"] == ["churn@v0.0.1", "churn#staging#1"]
    assert doc["commit"] == sha
    # annotated tags on the commit, GTO's first line, then the lineage block
    assert git(project, "cat-file", "-t", "churn@v0.0.1") == "tag"
    assert git(project, "rev-parse", "churn#staging#1^{commit}") == sha
    msg = tag_message(project, "churn#staging#1")
    assert msg.startswith("Assigning stage staging to artifact churn version v0.0.1\n\nmlx:\n")
    assert "md5:" in msg and "auc:" in msg and "by: Test User <test@example.com>" in msg

    # the same commit to prod: no new version, counter 2
    res = cli("promote", "--stage", "prod", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    assert res.json()["tags"] == ["churn#prod#2"] and res.json()["registered"] is False
    # promoting again to the same stage changes nothing
    res = cli("promote", "--stage", "prod", "--json", cwd=project)
    assert res.exit_code == 0 and res.json()["unchanged"] is True and res.json()["tags"] == []

    # a new commit: patch bump over the greatest; explicit --bump minor
    commit_model(project)
    res = cli("promote", "--stage", "staging", "--bump", "minor", "--json", cwd=project)
    assert res.json()["version"] == "v0.1.0", res.output
    commit_model(project)
    res = cli("promote", "--stage", "staging", "--json", cwd=project)
    assert res.json()["version"] == "v0.1.1"
    commit_model(project)
    res = cli("promote", "--stage", "dev", "--version", "v2.0.0", "--json", cwd=project)
    assert res.json()["version"] == "v2.0.0" and res.json()["tags"][-1] == "churn#dev#5"


def _refused(res, *words: str) -> None:
    assert res.exit_code == 1, res.output
    doc = res.json()
    assert doc["ok"] is False and doc["error"]["type"] == "PromotionRefused"
    for w in words:
        assert w in doc["error"]["message"], doc["error"]["message"]


def test_refuses_a_dirty_working_tree(cli, project):
    commit_model(project)
    (project / "mlops.yaml").write_text((project / "mlops.yaml").read_text() + "\n# edit\n")
    _refused(cli("promote", "--stage", "prod", "--json", cwd=project), "uncommitted", "mlops.yaml")
    assert tags(project) == []


def test_refuses_a_commit_without_eval_results(cli, project):
    commit_model(project, eval_results=False)
    _refused(cli("promote", "--stage", "prod", "--json", cwd=project), "no eval results")
    assert tags(project) == []


def test_refuses_failed_gates_unless_forced_with_a_reason(cli, project):
    commit_model(project, passed=False)
    _refused(cli("promote", "--stage", "prod", "--json", cwd=project), "eval gates failed", "auc")
    # --force alone is a usage error: the reason is mandatory
    res = cli("promote", "--stage", "prod", "--force", "--json", cwd=project)
    assert res.exit_code == 2 and "--reason" in res.json()["error"]["message"]
    assert tags(project) == []
    res = cli(
        "promote", "--stage", "prod", "--force", "--reason", "hotfix for incident 42", "--json",
        cwd=project,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.json()["forced"] is True
    for tag in ("churn@v0.0.1", "churn#prod#1"):
        msg = tag_message(project, tag)
        assert "reason: hotfix for incident 42" in msg and "forced: true" in msg


def test_refuses_eval_results_of_another_model(cli, project):
    commit_model(project, eval_md5="0" * 32)
    _refused(cli("promote", "--stage", "prod", "--json", cwd=project), "another model")


def test_refuses_an_unknown_stage(cli, project):
    commit_model(project)
    _refused(
        cli("promote", "--stage", "canary", "--json", cwd=project), "canary", "registry.stages"
    )


def test_refuses_existing_and_non_increasing_versions(cli, project):
    commit_model(project)
    assert cli("promote", "-s", "dev", "--version", "v1.2.0", cwd=project).exit_code == 0
    commit_model(project)
    _refused(cli("promote", "-s", "dev", "--version", "v1.2.0", "--json", cwd=project), "exists")
    _refused(
        cli("promote", "-s", "dev", "--version", "v1.1.9", "--json", cwd=project), "not greater"
    )
    _refused(
        cli("promote", "-s", "dev", "--version", "v1.2.0-rc.1", "--json", cwd=project),
        "not greater",
    )
    # a malformed version is a usage error
    res = cli("promote", "-s", "dev", "--version", "1.3", "--json", cwd=project)
    assert res.exit_code == 2
    # the already-registered commit cannot get a second version
    res = cli("promote", "HEAD~1", "-s", "prod", "--version", "v9.0.0", "--json", cwd=project)
    _refused(res, "already registered as churn@v1.2.0")
    assert tags(project) == ["churn#dev#1", "churn@v1.2.0"]


def test_rollback_gives_the_stage_to_the_previous_holder(cli, project):
    for _ in range(3):
        commit_model(project)
        assert cli("promote", "--stage", "prod", cwd=project).exit_code == 0
    res = cli("show", "--json", cwd=project)
    assert res.json()["artifacts"][0]["stages"]["prod"]["version"] == "v0.0.3"

    res = cli("promote", "churn", "--stage", "prod", "--rollback", "-m", "bad canary", "--json",
              cwd=project)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert (doc["previous"], doc["holder"]) == ("v0.0.3", "v0.0.2")
    assert doc["tags"] == ["churn#prod!#4", "churn#prod#5"]
    assert "reason: bad canary" in tag_message(project, "churn#prod#5")
    assert cli("lineage", "churn#prod", "--json", cwd=project).json()["version"] == "v0.0.2"

    # a second rollback goes further back (v0.0.3 was rolled back from, so it is skipped)
    doc = cli("promote", "--stage", "prod", "--rollback", "--json", cwd=project).json()
    assert doc["holder"] == "v0.0.1"
    # nothing before v0.0.1
    res = cli("promote", "--stage", "prod", "--rollback", "--json", cwd=project)
    _refused(res, "no earlier version")


def test_demote_unassigns_and_the_stage_falls_back(cli, project):
    commit_model(project)
    cli("promote", "--stage", "prod", cwd=project)
    commit_model(project)
    cli("promote", "--stage", "prod", cwd=project)
    res = cli("demote", "churn", "--stage", "prod", "--json", cwd=project)
    assert res.exit_code == 0, res.output
    doc = res.json()
    assert doc["tags"] == ["churn#prod!#3"] and doc["version"] == "v0.0.2"
    assert doc["holder"] == "v0.0.1"
    # promote --unassign is the same operation
    res = cli("promote", "churn", "--stage", "prod", "--unassign", "--json", cwd=project)
    assert res.json()["tags"] == ["churn#prod!#4"] and res.json()["holder"] is None
    res = cli("lineage", "churn#prod", "--json", cwd=project)
    assert res.exit_code == 2 and "no version of churn is in stage 'prod'" in res.stdout
    res = cli("demote", "churn", "--stage", "prod", "--json", cwd=project)
    _refused(res, "nothing to demote")

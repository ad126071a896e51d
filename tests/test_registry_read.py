"""`mlx show`, `mlx history`, `mlx lineage`, `mlx check-ref` (incl. $GITHUB_OUTPUT)."""

from __future__ import annotations

from tests.conftest import git
from tests.registry_helpers import commit_model


def _setup(cli, p):
    commit_model(p)
    assert cli("promote", "--stage", "prod", "-m", "first release", cwd=p).exit_code == 0
    commit_model(p)
    assert cli("promote", "--stage", "staging", cwd=p).exit_code == 0


def test_show_table_and_json(cli, example_project):
    p = example_project
    res = cli("show", "--json", cwd=p)  # nothing registered yet: the configured model
    art = res.json()["artifacts"][0]
    assert (art["name"], art["registered"], art["latest"]) == ("churn", False, None)
    _setup(cli, p)
    doc = cli("show", "--json", cwd=p).json()
    assert doc["stages"] == ["dev", "staging", "prod"]
    art = doc["artifacts"][0]
    assert art["latest"]["version"] == "v0.0.2"
    assert art["stages"]["prod"]["version"] == "v0.0.1"
    assert art["stages"]["prod"]["tag"] == "churn#prod#1" and art["stages"]["dev"] is None
    res = cli("show", cwd=p)
    assert res.exit_code == 0
    row = next(line for line in res.stdout.splitlines() if "churn" in line)
    assert "v0.0.2" in row and "v0.0.1" in row
    res = cli("show", "churn", cwd=p)
    assert "churn versions" in res.stdout and "active" in res.stdout
    versions = cli("show", "churn", "--json", cwd=p).json()["artifacts"][0]["versions"]
    assert [v["version"] for v in versions] == ["v0.0.2", "v0.0.1"]
    assert versions[1]["stages"] == ["prod"]
    res = cli("show", "fraud", "--json", cwd=p)
    assert res.exit_code == 2 and res.json()["error"]["type"] == "RefError"


def test_history_is_a_journal_newest_first(cli, example_project):
    p = example_project
    _setup(cli, p)
    events = cli("history", "churn", "--json", cwd=p).json()["events"]
    assert [(e["event"], e["version"], e["stage"]) for e in events] == [
        ("assignment", "v0.0.2", "staging"),
        ("registration", "v0.0.2", None),
        ("assignment", "v0.0.1", "prod"),
        ("registration", "v0.0.1", None),
    ]
    first = events[-2]
    assert first["author"] == "Test User" and first["lineage"]["reason"] == "first release"
    assert first["commit"] == git(p, "rev-parse", "HEAD~1")
    res = cli("history", cwd=p)
    assert res.exit_code == 0 and "first release" in res.stdout


def test_lineage_of_stage_and_work_tree(cli, example_project):
    p = example_project
    _setup(cli, p)
    doc = cli("lineage", "churn#prod", "--json", cwd=p).json()
    assert doc["version"] == "v0.0.1" and doc["commit"] == git(p, "rev-parse", "HEAD~1")
    assert doc["parent"] is None and doc["params"]["learning_rate"] == 0.1
    assert doc["eval"]["passed"] is True and doc["eval"]["matches_model"] is True
    assert [e["event"] for e in doc["events"]] == ["registration", "assignment"]
    ws = cli("lineage", "--json", cwd=p).json()
    assert ws["kind"] == "workspace" and ws["model"]["md5"]
    assert ws["registration"]["version"] == "v0.0.2" and ws["parent"]["version"] == "v0.0.1"
    res = cli("lineage", "churn@v0.0.2", cwd=p)
    assert res.exit_code == 0 and "parent" in res.stdout and "v0.0.1" in res.stdout


def test_check_ref_explains_tags_and_writes_github_output(cli, example_project, tmp_path):
    p = example_project
    _setup(cli, p)
    out = tmp_path / "github_output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out)}
    res = cli("check-ref", "refs/tags/churn#prod#1", cwd=p, env=env)
    assert res.exit_code == 0, res.output
    assert "event=assignment" in res.stdout
    assert out.read_text() == "event=assignment\nname=churn\nversion=v0.0.1\nstage=prod\n"
    doc = cli("check-ref", "churn@v0.0.2", "--json", cwd=p).json()
    assert (doc["event"], doc["version"], doc["stage"]) == ("registration", "v0.0.2", None)
    # not a registry tag; a lightweight tag in GTO's format; no such tag
    git(p, "tag", "release-1")
    git(p, "tag", "churn#dev#7")
    assert cli("check-ref", "release-1", "--json", cwd=p).json()["event"] is None
    doc = cli("check-ref", "churn#dev#7", "--json", cwd=p).json()
    assert doc["event"] is None and "lightweight" in doc["note"]
    assert cli("check-ref", "nope", "--json", cwd=p).exit_code == 2
    # without GITHUB_ACTIONS nothing is written
    out.unlink()
    cli("check-ref", "churn#prod#1", cwd=p, env={"GITHUB_OUTPUT": str(out)})
    assert not out.exists()


def test_show_and_check_ref_stay_light(cli, example_project):
    """The registry's read path imports neither DVC, the ML stack nor GitPython."""
    from tests.test_cli import HEAVY, _imported_modules

    p = example_project
    _setup(cli, p)
    for args in (("show", "--json"), ("check-ref", "churn#prod#1", "--json")):
        loaded = _imported_modules(*args, cwd=p)
        assert not loaded & set(HEAVY), (args, sorted(loaded & set(HEAVY)))

"""The real `gto` reads every tag mlx writes exactly as mlx does.

After each step of a registry's life (registration, assignment, rollback, unassignment,
deregistration, deprecation, revival) `gto show --json` and `gto history --json` must
agree with mlx; at some steps also `gto show NAME` and `gto show NAME#STAGE`; at the end
`gto check-ref` on every tag (its CLI for one tag of each kind, its Python API for the
rest: each `gto` process costs about a second here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.registry_helpers import commit_model, run_tool, tags

pytestmark = pytest.mark.slow


def _gto(project: Path, *args: str):
    res = run_tool(project, "gto", *args, "--json", check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout) if res.stdout.strip() else None


def _agree(cli, project: Path, full: bool = False) -> None:
    ours = cli("show", "--json", cwd=project).json()
    theirs = _gto(project, "show", "--deprecated")
    by_name = {a["name"]: a for a in ours["artifacts"] if a["registered"]}
    assert set(by_name) == set(theirs), (by_name.keys(), theirs.keys())
    for name, gto_art in theirs.items():
        mine = by_name[name]
        assert (mine["latest"] or {}).get("version") == gto_art["version"], name
        assert mine["deprecated"] == (not gto_art["active"]), name
        held = {s: v["version"] for s, v in mine["stages"].items() if v}
        gto_held = {s: v for s, v in gto_art["stage"].items() if v}
        assert held == gto_held, (name, held, gto_held)
        if not full:
            continue
        # versions and the stages each holds (GTO lists the active ones, or with
        # --deprecated, all of them)
        deprecated = ["--deprecated"] if mine["deprecated"] else []
        versions = _gto(project, "show", name, *deprecated)
        gto_versions = {v["version"]: (v["commit_hexsha"], sorted(s["stage"] for s in v["stages"])) for v in versions}  # fmt: skip
        mine_versions = cli("show", name, "--json", cwd=project).json()["artifacts"][0]["versions"]
        listed = {v["version"]: (v["commit"], sorted(v["stages"])) for v in mine_versions if deprecated or v["status"] == "active"}  # fmt: skip
        assert listed == gto_versions, (name, listed, gto_versions)
        # NAME#STAGE resolves to the same version (or to nothing) in both
        for stage in ("dev", "staging", "prod"):
            gto_stage = _gto(project, "show", f"{name}#{stage}") or []
            res = cli("lineage", f"{name}#{stage}", "--json", cwd=project)
            if gto_stage and not mine["deprecated"]:
                assert res.exit_code == 0, res.output
                assert res.json()["version"] == gto_stage[0]["version"]
            else:
                assert res.exit_code == 2, res.output

    history = cli("history", "--json", cwd=project).json()["events"]
    gto_history = _gto(project, "history")

    def key(e, tag_key, commit_key, time_key):
        return (e[time_key], e["event"], e["artifact"], e["version"], e["stage"], e[commit_key], e[tag_key])  # fmt: skip

    assert sorted(key(e, "tag", "commit", "created_at") for e in history) == sorted(
        key(e, "ref", "commit", "timestamp") for e in gto_history
    )


def _check_refs_agree(cli, project: Path) -> None:
    import gto.api

    cli_kinds: set[str] = set()
    for tag in tags(project):
        mine = cli("check-ref", tag, "--json", cwd=project).json()
        if mine["event"] not in cli_kinds:
            cli_kinds.add(mine["event"])
            theirs = _gto(project, "check-ref", tag)
        else:
            events = gto.api.check_ref(str(project), tag)
            assert len(events) == 1, tag
            theirs = events[0].dict_state()
        assert mine["event"] == theirs["event"], tag
        assert mine["name"] == theirs["artifact"], tag
        assert mine["version"] == theirs.get("version"), tag
        assert mine["stage"] == theirs.get("stage"), tag
        assert mine["commit"] == theirs["commit_hexsha"], tag
    assert cli_kinds == {"registration", "deregistration", "assignment", "unassignment", "deprecation"}  # fmt: skip


def test_gto_agrees_with_mlx_on_every_tag_kind(cli, example_project):
    p = example_project
    ok = lambda res: res.exit_code == 0 or pytest.fail(res.output)  # noqa: E731

    commit_model(p)
    ok(cli("promote", "--stage", "prod", cwd=p))  # registration + assignment
    commit_model(p)
    ok(cli("promote", "--stage", "staging", cwd=p))
    ok(cli("promote", "--stage", "prod", cwd=p))
    # a second artifact, through a second config naming it
    (p / "fraud.yaml").write_text(
        (p / "mlops.yaml").read_text().replace("name: churn", "name: fraud")
    )
    commit_model(p, name="fraud")
    ok(cli("promote", "--config", "fraud.yaml", "--stage", "dev", cwd=p))
    ok(cli("promote", "HEAD~1", "--stage", "dev", cwd=p))
    _agree(cli, p, full=True)

    ok(cli("promote", "churn", "--stage", "prod", "--rollback", "-m", "latency", cwd=p))
    _agree(cli, p)
    ok(cli("demote", "churn", "--stage", "staging", cwd=p))  # unassignment
    ok(cli("demote", "churn", "--stage", "dev", cwd=p))
    _agree(cli, p)
    ok(cli("deprecate", "churn", "v0.0.1", "-m", "leaky feature", cwd=p))  # deregistration
    _agree(cli, p, full=True)
    ok(cli("deprecate", "churn", cwd=p))  # deprecation
    ok(cli("deprecate", "fraud", cwd=p))
    _agree(cli, p)
    commit_model(p)
    ok(cli("promote", "--stage", "prod", cwd=p))  # a new version revives it
    _agree(cli, p)
    ok(cli("deprecate", "churn", cwd=p))  # deprecated a second time: churn@deprecated#N
    _agree(cli, p, full=True)
    assert "churn@deprecated" in tags(p) and any(t.startswith("churn@deprecated#") for t in tags(p))
    _check_refs_agree(cli, p)


def test_mlx_reads_tags_gto_writes(cli, example_project):
    """The other direction: tags written by `gto` itself, including a lightweight decoy."""
    p = example_project
    first = commit_model(p)
    run_tool(p, "gto", "register", "churn", first, "--version", "v1.0.0")
    run_tool(p, "gto", "assign", "churn", "--version", "v1.0.0", "--stage", "prod")
    second = commit_model(p)
    run_tool(p, "gto", "assign", "churn", second, "--stage", "prod")  # registers v1.0.1 too
    run_tool(p, "gto", "deprecate", "churn", "v1.0.1", "prod")  # GTO's unassign
    run_tool(p, "git", "tag", "churn#prod#99", first)  # lightweight: ignored, counter taken
    _agree(cli, p, full=True)
    assert cli("lineage", "churn#prod", "--json", cwd=p).json()["version"] == "v1.0.0"
    commit_model(p)
    doc = cli("promote", "--stage", "prod", "--json", cwd=p).json()
    assert doc["version"] == "v1.0.2" and doc["tags"][-1] == "churn#prod#100"
    _agree(cli, p)

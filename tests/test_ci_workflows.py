"""`mlx init --ci github`: workflows valid against GitHub's schema, clean under zizmor."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlx.ci import github
from tests.conftest import git

BIN = Path(sys.executable).parent
SCHEMES = {
    "local": None,
    "s3": "s3://bucket/dvc",
    "gs": "gs://bucket/dvc",
    "azure": "azure://container/dvc",
    "ssh": "ssh://dvc@storage.example.com/srv/dvc",
    "https": "https://dvc.example.com/store",
}


def check_schema(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )


def zizmor_findings(folder: Path) -> list[dict]:
    """zizmor's findings (regular persona, offline) with severity medium or high."""
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "json", str(folder)],
        capture_output=True,
        text=True,
    )
    findings = json.loads(proc.stdout)
    return [
        {"ident": f["ident"], **f["determinations"], "where": f["locations"][0]["concrete"]}
        for f in findings
        if f["determinations"]["severity"] in ("Medium", "High")
    ]


def _write(rendered: list[github.Rendered], root: Path) -> list[Path]:
    paths = []
    for r in rendered:
        path = root / r.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(r.text)
        paths.append(path)
    return paths


def test_init_ci_github_writes_workflows_that_pass_schema_and_zizmor(cli, tmp_path):
    root = tmp_path / "proj"
    res = cli("init", str(root), "--ci", "github", "--json")
    assert res.exit_code == 0, res.output
    written = {a["path"]: a["status"] for a in res.json()["actions"] if "workflow" in a["what"]}
    assert written == {f".github/workflows/{n}": "created" for n in github.WORKFLOWS}
    paths = sorted((root / ".github" / "workflows").glob("*.yml"))
    assert len(paths) == 3
    proc = check_schema(paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert zizmor_findings(root / ".github" / "workflows") == []
    # the next steps say what GitHub needs for the (local-folder) DVC remote
    assert any("DVC_REMOTE_URL" in s for s in res.json()["next_steps"])


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_remote_kind_renders_valid_clean_workflows(scheme, tmp_path):
    paths = _write(github.render_all(".", SCHEMES[scheme]), tmp_path)
    proc = check_schema(paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert zizmor_findings(tmp_path / ".github" / "workflows") == []
    text = "\n".join(p.read_text() for p in paths)
    for secret in github.ENV_SECRETS.get(scheme, ()):
        assert f"${{{{ secrets.{secret} }}}}" in text
    if scheme in github.CONFIG_STEPS:
        assert f"secrets.{github.CONFIG_STEPS[scheme][1]}" in text


def test_the_audit_catches_a_bad_workflow(tmp_path):
    """Negative control: the same checks fail on an injectable, unpinned workflow."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    idents = {f["ident"] for f in zizmor_findings(folder)}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= idents
    (folder / "bad.yml").write_text("on: pull_request\njobs:\n  a:\n    steps: 3\n")
    assert check_schema([folder / "bad.yml"]).returncode != 0


def _docs(paths: list[Path]) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in paths}


def _steps(doc: dict):
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def test_workflow_hygiene(tmp_path):
    docs = _docs(_write(github.render_all(".", "s3://b/x"), tmp_path))
    for name, doc in docs.items():
        assert doc["permissions"] == {}, name  # nothing by default; jobs ask for what they use
        for job_name, job in doc["jobs"].items():
            assert "permissions" in job, (name, job_name)
            assert "timeout-minutes" in job, (name, job_name)
        for job_name, _job, step in _steps(doc):
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            # expressions go through env:, never into the script (template injection)
            assert "${{" not in step.get("run", ""), (name, job_name, step.get("name"))
            # secrets are never printed
            run = step.get("run", "")
            assert not re.search(r"echo[^\n]*\$(AWS|AZURE|GCP|DVC_SSH|DVC_REMOTE_PASS)", run)
            assert "set -x" not in run


def test_pr_workflow_runs_the_loop_and_posts_a_sticky_comment(tmp_path):
    doc = _docs(_write(github.render_all(".", None), tmp_path))["mlx-pr.yml"]
    assert list(doc[True]) == ["pull_request"]  # yaml 1.1 reads `on` as True
    runs = [s.get("run", "") for _, _, s in _steps(doc)]
    order = [
        next(i for i, r in enumerate(runs) if r.startswith(cmd))
        for cmd in ("dvc pull", "mlx validate", "mlx train", "mlx eval --json")
    ]
    assert order == sorted(order)
    script = "\n".join(runs)
    assert '>> "$GITHUB_STEP_SUMMARY"' in script
    assert "<!-- mlx-eval-report -->" in script and "gh pr comment" in script
    # the job running the PR's code cannot write; only the comment job can, and it runs none
    assert doc["jobs"]["model"]["permissions"] == {"contents": "read"}
    assert doc["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    assert not any("mlx" in s.get("run", "") for s in doc["jobs"]["comment"]["steps"][:1])


def _github_glob(pattern: str) -> re.Pattern:
    """GitHub's filter pattern syntax: `*` stops at `/`, `**` does not."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def test_registry_workflow_triggers_on_prod_assignments_only(tmp_path):
    doc = _docs(_write(github.render_all(".", None), tmp_path))["mlx-registry.yml"]
    (pattern,) = doc[True]["push"]["tags"]
    glob = _github_glob(pattern)
    for tag in ("churn#prod#3", "team/churn#prod#12", "models=churn#prod#1"):
        assert glob.match(tag), tag
    for tag in ("churn#staging#3", "churn@v1.0.0", "churn#prod!#4x/y"):
        assert not glob.match(tag), tag
    steps = {s.get("name"): s for _, _, s in _steps(doc)}
    check = steps["mlx check-ref"]
    assert check["run"] == 'mlx check-ref "$TAG"'
    assert check["env"]["TAG"] == "${{ github.ref_name }}"
    assert doc["jobs"]["deploy"]["needs"] == ["check-ref", "smoke-test"]
    assert doc["jobs"]["deploy"]["environment"] == "prod"


def test_monitor_workflow_retrains_on_drift_with_least_privilege(tmp_path):
    doc = _docs(_write(github.render_all(".", None), tmp_path))["mlx-monitor.yml"]
    assert set(doc[True]) == {"schedule", "workflow_dispatch"}
    jobs = doc["jobs"]
    assert jobs["monitor"]["permissions"] == {"contents": "read"}
    assert "needs.monitor.outputs.drift == 'true'" in jobs["retrain"]["if"]
    script = "\n".join(s.get("run", "") for s in jobs["retrain"]["steps"])
    assert "mlx monitor --on-drift retrain" in script and "gh pr create" in script


def test_init_ci_keeps_existing_workflows(cli, tmp_path):
    root = tmp_path / "proj"
    assert cli("init", str(root), "--ci", "github").exit_code == 0
    edited = root / ".github" / "workflows" / "mlx-pr.yml"
    edited.write_text(edited.read_text() + "# ours now\n")
    res = cli("init", str(root), "--ci", "github", "--json")
    assert res.exit_code == 0
    status = {a["path"]: a for a in res.json()["actions"] if "workflow" in a["what"]}
    assert status[".github/workflows/mlx-pr.yml"]["status"] == "skipped"
    assert "kept" in status[".github/workflows/mlx-pr.yml"]["note"]
    assert status[".github/workflows/mlx-monitor.yml"]["status"] == "unchanged"
    assert edited.read_text().endswith("# ours now\n")
    assert res.json()["changed"] is False


def test_project_in_a_subfolder_gets_workflows_at_the_repo_root(cli, tmp_path):
    repo = tmp_path / "mono"
    repo.mkdir()
    git(repo, "init", "-q")
    res = cli("init", str(repo / "ml" / "churn"), "--ci", "github", "--remote", "s3://b/x")
    assert res.exit_code == 0, res.output
    pr = yaml.safe_load((repo / ".github" / "workflows" / "mlx-pr.yml").read_text())
    assert pr["jobs"]["model"]["defaults"]["run"]["working-directory"] == "ml/churn"
    assert "AWS_ACCESS_KEY_ID" in pr["jobs"]["model"]["env"]
    assert not (repo / "ml" / "churn" / ".github").exists()


def test_unknown_ci_is_a_usage_error(cli, tmp_path):
    res = cli("init", str(tmp_path / "p"), "--ci", "jenkins")
    assert res.exit_code == 2 and "github" in res.output
    assert not (tmp_path / "p").exists()
    from mlx import api
    from mlx.errors import UsageError

    with pytest.raises(UsageError, match="github"):
        api.init(tmp_path / "q", ci="jenkins")
    assert not (tmp_path / "q").exists()

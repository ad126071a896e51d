"""A whole team day in temp repos: real git remote, real DVC remote, real hooks.

Alice sets the project up with hooks and CI, a typo in mlops.yaml is stopped at commit
time, she trains, evaluates and promotes; pushing the prod tag before the model is in
the DVC remote is refused, `dvc push` lets it through. Then CI's side, in a fresh clone:
the registry job's `mlx check-ref` step (and its serve smoke test when `mlx serve` is
here), the pull-request job's scripts (pull, validate, train, eval, report) and the
monitor and retrain jobs' scripts run as the generated workflows have them, with
`$GITHUB_OUTPUT` set.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlx.cli import completions
from tests.conftest import git, run_mlx
from tests.workflow_steps import Runner

DVC = str(Path(sys.executable).with_name("dvc"))
COMMANDS = {c.name for c in completions.describe()[1]}
HAVE_REGISTRY = {"promote", "check-ref"} <= COMMANDS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serve,
    pytest.mark.skipif(not HAVE_REGISTRY, reason="needs mlx promote and check-ref (registry)"),
    pytest.mark.skipif(shutil.which("jq") is None, reason="the workflows' scripts use jq"),
]


def sh(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)


def test_team_day(tmp_path):
    origin = tmp_path / "origin.git"
    storage = tmp_path / "dvc-storage"
    git(tmp_path, "init", "-q", "--bare", str(origin))

    # --- morning: set-up with hooks and CI --------------------------------------------
    res = run_mlx(
        "init", "churn", "--example", "--hooks", "--ci", "github",
        "--remote", str(storage), "--json", cwd=tmp_path,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    made = {a["path"]: a["status"] for a in res.json()["actions"]}
    assert made[".git/hooks/pre-commit"] == made[".git/hooks/pre-push"] == "created"
    assert made[".github/workflows/mlx-registry.yml"] == "created"
    repo = tmp_path / "churn"
    git(repo, "add", "-A")
    assert sh(repo, "git", "commit", "-q", "-m", "Set up mlx").returncode == 0
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")

    # --- a typo in the config is stopped at commit time -------------------------------
    cfg = repo / "mlops.yaml"
    good = cfg.read_text()
    cfg.write_text(good.replace("  task: binary", "  taks: binary"))
    proc = sh(repo, "git", "commit", "-q", "-am", "tweak the model")
    assert proc.returncode != 0
    assert "mlops.yaml" in proc.stderr and "taks: unknown key (did you mean 'task'?)" in proc.stderr
    assert git(repo, "log", "-1", "--format=%s") == "Set up mlx"
    cfg.write_text(good)

    # --- train, evaluate, promote ------------------------------------------------------
    for step in (("train", "--commit"), ("eval", "--commit")):
        res = run_mlx(*step, cwd=repo)
        assert res.exit_code == 0, res.output
    res = run_mlx("promote", "--stage", "prod", "--json", cwd=repo)
    assert res.exit_code == 0, res.output
    promoted = res.json()
    tags = promoted["tags"]
    prod_tag = next(t for t in tags if "#prod#" in t)
    version_tag = next(t for t in tags if "@v" in t)
    assert prod_tag.startswith("churn#prod#")

    # --- the prod tag cannot leave before its model is in the DVC remote -------------
    git(repo, "push", "-q", "origin", "main")  # branches are not the hook's business
    proc = sh(repo, "git", "push", "origin", prod_tag, version_tag)
    assert proc.returncode != 0
    assert f"refused mlx: {prod_tag}" in proc.stderr
    assert "models/churn/model.onnx" in proc.stderr and "dvc push" in proc.stderr
    assert git(repo, "ls-remote", "--tags", str(origin)) == ""
    hint = _hook_json(repo, prod_tag)["push"]
    assert hint.startswith("dvc push ") and "models/churn/model.onnx.dvc" in hint

    assert sh(repo, DVC, "push", "-q").returncode == 0
    proc = sh(repo, "git", "push", "origin", prod_tag, version_tag)
    assert proc.returncode == 0, proc.stderr
    assert f"ok  mlx: {prod_tag}" in proc.stderr
    remote_tags = git(repo, "ls-remote", "--tags", str(origin))
    assert prod_tag in remote_tags and version_tag in remote_tags

    # --- CI's side: a fresh clone, the workflows' own scripts -------------------------
    ci = tmp_path / "ci-checkout"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    runner = Runner(ci, tmp_path / "runner-temp", {"github.ref_name": prod_tag})
    workflows = ci / ".github" / "workflows"
    codes = runner.run_job(workflows / "mlx-registry.yml", "check-ref", ["mlx check-ref"])
    assert codes == {"mlx check-ref": 0}, runner.last.stdout + runner.last.stderr
    assert runner.outputs["ref"] == {
        "event": "assignment",
        "name": "churn",
        "version": promoted["version"],
        "stage": "prod",
    }
    # the same check by hand, as a person would read it
    res = run_mlx("check-ref", prod_tag, "--json", cwd=ci)
    assert res.exit_code == 0 and res.json()["event"] == "assignment"

    # the registry job's smoke test: serve the tagged version (fetched from the DVC
    # remote into the fresh clone) and call it over the Open Inference Protocol
    if "serve" in COMMANDS:
        runner.expressions.update(
            {f"needs.check-ref.outputs.{k}": v for k, v in runner.outputs["ref"].items()}
        )
        steps = ["Serve the tagged version", "Smoke test (Open Inference Protocol)", "Server log"]
        codes = runner.run_job(
            workflows / "mlx-registry.yml", "smoke-test", steps, env={"PORT": str(free_port())}
        )
        assert codes == dict.fromkeys(steps, 0), runner.last.stdout + runner.last.stderr

    # the pull-request job on that checkout: pull from the shared DVC remote, validate,
    # train, eval, report
    runner.expressions.update({"github.event.pull_request.head.sha": git(ci, "rev-parse", "HEAD")})
    steps = ["Pull data", "Validate", "Train", "Evaluate", "Report"]
    codes = runner.run_job(workflows / "mlx-pr.yml", "model", steps)
    assert codes == dict.fromkeys(steps, 0), runner.last.stdout + runner.last.stderr
    comment = (runner.temp / "mlx-comment.md").read_text()
    # the PR against production first (prod holds the promoted version), then the eval report
    assert comment.startswith("<!-- mlx-eval-report -->\n## mlx diff: `churn#prod` → `workspace`")
    assert f"churn@{promoted['version']} (#prod)" in comment
    assert "## mlx eval: `churn`" in comment and "<details>" in comment
    assert "| auc |" in comment and "![" not in comment  # images live in the artifact
    assert comment in (runner.temp / "step-summary.md").read_text()
    assert (runner.temp / "mlx-eval" / "metrics.json").is_file()
    evaluated = json.loads((runner.temp / "eval.json").read_text())
    assert evaluated["passed"]
    if evaluated["baseline"] is not None:  # once eval compares with the registry's prod
        assert evaluated["baseline"]["version"] == promoted["version"]

    # the scheduled monitor job: the example's live data has drifted, so the run is red
    # and says so in its outputs; the retrain job then finds nothing new to commit (the
    # training data did not change), so no branch and no pull request
    codes = runner.run_job(workflows / "mlx-monitor.yml", "monitor", ["mlx monitor"])
    assert codes == {"mlx monitor": 1}, runner.last.stdout + runner.last.stderr
    assert runner.outputs["monitor"]["drift"] == "true"
    assert (runner.temp / "monitor.html").is_file()
    git(ci, "checkout", "-q", "--", ".")  # the PR job's train left the model changed
    codes = runner.run_job(workflows / "mlx-monitor.yml", "retrain", ["Retrain on a branch"])
    assert codes == {"Retrain on a branch": 0}, runner.last.stdout + runner.last.stderr
    assert "retrain_branch" not in runner.outputs["retrain"]
    retrain = json.loads((runner.temp / "retrain.json").read_text())["retrain"]
    assert retrain["branch"] is None and "identical" in retrain["message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hook_json(repo: Path, tag: str) -> dict:
    sha = git(repo, "rev-parse", tag)
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mlx")), "hook", "pre-push", "origin", "--json"],
        cwd=repo,
        input=f"refs/tags/{tag} {sha} refs/tags/{tag} {'0' * 40}\n",
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout)

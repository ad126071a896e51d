"""Every command's `--json` output is documented by a schema in docs/schemas and matches it.

Real commands run in real projects; their stdout is validated against the schema's
result definition (or the shared error document). A command without a schema fails
the first test, so a new command cannot land undocumented.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource

from mlx.cli import completions
from tests.conftest import ROOT, Result, git, run_mlx
from tests.helpers import config, make_project, synthetic

SCHEMAS = ROOT / "docs" / "schemas"


def _registry() -> Registry:
    resources = [
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.json")
    ]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def assert_matches(result: Result, command: str, definition: str | None = "result") -> dict:
    """Validate one command's stdout against docs/schemas/<command>.json."""
    doc = json.loads(result.stdout)
    schema = json.loads((SCHEMAS / f"{command}.json").read_text())
    # the top-level schema accepts every documented shape...
    _validator(schema).validate(doc)
    # ...and the document has the shape we expect here
    target = (
        {"$ref": f"{command}.json#/$defs/{definition}"} if definition else {"$ref": "error.json"}
    )
    _validator(target).validate(doc)
    assert doc["command"] == command
    return doc


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=FormatChecker())


def test_every_command_has_a_valid_schema():
    _, commands = completions.describe()
    names = {c.name for c in commands}
    have = {p.stem for p in SCHEMAS.glob("*.json")} - {"error", "common"}
    assert names <= have, f"commands without docs/schemas/<command>.json: {names - have}"
    for path in SCHEMAS.glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_schemas_reject_wrong_documents():
    """Negative control: the schemas are not so loose that anything passes."""
    bad = Result(0, json.dumps({"ok": True, "command": "init", "root": 3}), "")
    with pytest.raises(ValidationError):
        assert_matches(bad, "init")
    bad = Result(2, json.dumps({"ok": False, "command": "validate", "error": {"type": "X"}}), "")
    with pytest.raises(ValidationError):
        assert_matches(bad, "validate", None)


def test_init_validate_and_errors(tmp_path):
    root = tmp_path / "proj"
    assert_matches(run_mlx("init", str(root), "--hooks", "--ci", "github", "--json"), "init")
    # an error document: a config with a typo
    (root / "mlops.yaml").write_text("data: {train: d.csv, target: y}\nmodle: {}\n")
    res = run_mlx("validate", "--config-only", "--json", cwd=root)
    assert res.exit_code == 2
    doc = assert_matches(res, "validate", None)
    assert any(i.get("suggestion") == "model" for i in doc["error"]["details"]["issues"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("schemas") / "proj"
    cfg = config("binary", eval={"gates": {"auc": {"min": 0.6}}})
    make_project(root, synthetic("binary", n=500), cfg)
    return root


def test_validate(trained):
    doc = assert_matches(run_mlx("validate", "--json", cwd=trained), "validate")
    assert doc["data"]["ok"]
    doc = assert_matches(run_mlx("validate", "--config-only", "--json", cwd=trained), "validate")
    assert doc["data"] is None


def test_train_and_eval(trained):
    res = run_mlx("train", "--commit", "--json", cwd=trained)
    assert res.exit_code == 0, res.output
    assert_matches(res, "train")
    res = run_mlx("eval", "--json", cwd=trained)
    assert res.exit_code == 0, res.output
    assert_matches(res, "eval")


def test_monitor(trained):
    if not (trained / "models" / "m" / "metadata.json").is_file():
        assert run_mlx("train", "--commit", cwd=trained).exit_code == 0
    res = run_mlx("monitor", "--current", "data/train.csv", "--json", cwd=trained)
    assert res.exit_code in (0, 1), res.output
    doc = assert_matches(res, "monitor")
    assert doc["current"]["rows"] == 500


def test_hook_pre_commit_and_pre_push(trained):
    cfg = trained / "mlops.yaml"
    rule = "target: y\n  columns:\n    x2: {type: float, min: 0}"
    cfg.write_text(cfg.read_text().replace("target: y", rule))
    git(trained, "add", "mlops.yaml")
    doc = assert_matches(run_mlx("hook", "pre-commit", "--json", cwd=trained), "hook", "pre_commit")
    assert doc["data_checked"] is True
    git(trained, "reset", "-q", "mlops.yaml")
    git(trained, "checkout", "mlops.yaml")
    res = _pre_push(trained, "refs/heads/main")
    assert_matches(res, "hook", "pre_push")


def _pre_push(root: Path, ref: str) -> Result:
    import subprocess
    import sys

    head = git(root, "rev-parse", "HEAD")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mlx")), "hook", "pre-push", "origin", "--json"],
        cwd=root,
        input=f"{ref} {head} {ref} {'0' * 40}\n",
        capture_output=True,
        text=True,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


HAVE = {c.name for c in completions.describe()[1]}


@pytest.mark.skipif(not {"promote", "check-ref"} <= HAVE, reason="registry commands not here")
def test_registry_commands(trained):
    if not (trained / "models" / "m" / "metadata.json").is_file():
        assert run_mlx("train", "--commit", cwd=trained).exit_code == 0
    res = run_mlx("eval", "--commit", cwd=trained)
    assert res.exit_code == 0, res.output
    doc = assert_matches(run_mlx("promote", "--stage", "staging", "--json", cwd=trained), "promote")
    version, tags = doc["version"], doc["tags"]
    assert_matches(run_mlx("promote", "--stage", "prod", "--json", cwd=trained), "promote")
    assert_matches(run_mlx("show", "--json", cwd=trained), "show")
    assert_matches(run_mlx("show", "m", "--json", cwd=trained), "show")
    assert_matches(run_mlx("history", "--json", cwd=trained), "history")
    assert_matches(run_mlx("lineage", "m#prod", "--json", cwd=trained), "lineage")
    doc = assert_matches(run_mlx("check-ref", tags[-1], "--json", cwd=trained), "check-ref")
    assert (doc["event"], doc["version"]) == ("assignment", version)
    assert_matches(run_mlx("demote", "m", "--stage", "staging", "--json", cwd=trained), "demote")
    assert_matches(run_mlx("deprecate", "m", version, "--json", cwd=trained), "deprecate")
    assert_matches(run_mlx("deprecate", "m", "--json", cwd=trained), "deprecate")
    res = run_mlx("lineage", "m#nope", "--json", cwd=trained)
    assert res.exit_code == 2
    assert_matches(res, "lineage", None)


@pytest.mark.serve
@pytest.mark.skipif("serve" not in HAVE, reason="mlx serve not here")
def test_serve_ready_and_batch(trained, tmp_path):
    import signal
    import subprocess
    import sys

    if not (trained / "models" / "m" / "metadata.json").is_file():
        assert run_mlx("train", "--commit", cwd=trained).exit_code == 0
    out = tmp_path / "scored.csv"
    res = run_mlx("serve", "--batch", "data/train.csv", "--output", str(out), "--json", cwd=trained)
    assert res.exit_code == 0, res.output
    assert assert_matches(res, "serve", "batch")["rows_out"] == 500
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlx")), "serve", "--port", "0", "--json"],
        cwd=trained,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        doc = assert_matches(Result(0, line, ""), "serve", "ready")
        assert doc["port"] > 0 and doc["model"]["name"] == "m"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

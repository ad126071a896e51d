"""The CLI surface: help text everywhere, fast start, completions, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlx.cli import completions
from tests.conftest import ROOT, run_mlx

HEAVY = (
    "lightgbm",
    "pandas",
    "sklearn",
    "dvc",
    "onnx",
    "onnxruntime",
    "pandera",
    "scipy",
    "git",
    "optuna",
)


def test_every_command_and_option_has_help():
    globals_, commands = completions.describe()
    assert {c.name for c in commands} >= {"init", "validate"}
    for cmd in commands:
        assert cmd.help, f"`mlx {cmd.name}` has no help text"
        for opt in cmd.options:
            assert opt.help, f"`mlx {cmd.name} {opt.names[0]}` has no help text"
        assert any("--json" in o.names for o in cmd.options), f"`mlx {cmd.name}` lacks --json"


def _imported_modules(*args: str, cwd: Path) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['mlx', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('mlx', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("MODULES ")][-1]
    return set(line.split()[1:])


@pytest.mark.parametrize(
    "args", [("--help",), ("validate", "--config-only"), ("validate", "--help")]
)
def test_fast_paths_import_nothing_heavy(args, example_project):
    loaded = _imported_modules(*args, cwd=example_project)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "click" not in loaded


def test_validation_does_not_import_pandera_data_synthesis(example_project):
    """hypothesis is installed here (schemathesis needs it); pandera would import it on
    its first validation, 0.15-0.25 s that mlx never uses."""
    loaded = _imported_modules("validate", cwd=example_project)
    assert "pandera" in loaded and "pandas" in loaded  # the data was validated
    assert "hypothesis" not in loaded


def test_no_module_imports_click():
    for path in (ROOT / "mlx").rglob("*.py"):
        text = path.read_text()
        assert "import click" not in text and "from click" not in text, path


def test_completions_match_the_cli():
    for name, text in completions.generate().items():
        committed = (ROOT / "completions" / name).read_text()
        assert committed == text, (
            f"completions/{name} is stale: python -m mlx.cli.completions completions"
        )


def test_bash_completion_script_completes_commands(tmp_path):
    script = ROOT / "completions" / "mlx.bash"
    probe = (
        f"source {script}; COMP_WORDS=(mlx val); COMP_CWORD=1; _mlx; echo ${{COMPREPLY[@]}};"
        "COMP_WORDS=(mlx validate --con); COMP_CWORD=2; _mlx; echo ${COMPREPLY[@]}"
    )
    out = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0].strip() == "validate"
    assert set(out[1].split()) == {"--config", "--config-only"}


def test_version_and_usage_errors(tmp_path):
    res = run_mlx("--version", cwd=tmp_path)
    assert res.exit_code == 0 and res.stdout.startswith("mlx ")
    res = run_mlx("validate", "--no-such-flag", cwd=tmp_path)
    assert res.exit_code == 2
    res = run_mlx("no-such-command", cwd=tmp_path)
    assert res.exit_code == 2


def test_traceback_flag_shows_the_stack(tmp_path):
    res = run_mlx("--traceback", "validate", cwd=tmp_path)
    assert res.exit_code == 2
    assert "Traceback" in res.stderr
    res = run_mlx("validate", cwd=tmp_path)
    assert "Traceback" not in res.stderr

"""Run the `run:` steps of a generated GitHub workflow job locally, as the runner would.

Not a GitHub Actions emulator: `uses:` steps are skipped (the caller prepares what they
would: a checkout, an installed mlx), `if:` is ignored, and `${{ ... }}` in `env:` values
is replaced from a dict the caller passes. What it does check is that the shell scripts
mlx writes into the workflows work against the real mlx, git and DVC, with the runner's
environment (`RUNNER_TEMP`, `GITHUB_WORKSPACE`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Runner:
    workspace: Path  # the checkout ($GITHUB_WORKSPACE)
    temp: Path  # $RUNNER_TEMP
    expressions: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id → outputs

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_STEP_SUMMARY": str(self.temp / "step-summary.md"),
            **{k: self._expand(v) for k, v in extra.items()},
        }

    def _expand(self, value) -> str:
        return EXPR.sub(lambda m: self.expressions.get(m.group(1), ""), str(value))

    def run_job(
        self, workflow: Path, job: str, steps: list[str], env: dict[str, str] | None = None
    ) -> dict[str, int]:
        """Run the named steps of ``job`` in order; returns each step's exit code.
        ``env`` overrides the workflow's values (e.g. a free port)."""
        self.temp.mkdir(parents=True, exist_ok=True)
        doc = yaml.safe_load(workflow.read_text())
        spec = doc["jobs"][job]
        workdir = spec.get("defaults", {}).get("run", {}).get("working-directory", ".")
        job_env = {**doc.get("env", {}), **spec.get("env", {}), **(env or {})}
        codes = {}
        by_name = {s.get("name"): s for s in spec["steps"]}
        for name in steps:
            step = by_name[name]
            assert "run" in step, f"step {name!r} has no run:"
            output = self.temp / f"output-{len(codes)}"
            output.write_text("")
            step_env = self.env({**job_env, **step.get("env", {})})
            step_env["GITHUB_OUTPUT"] = str(output)
            cwd = self._expand(step.get("working-directory", workdir))
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.workspace / cwd,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            codes[name] = proc.returncode
            self.last = proc
            values = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
            )
            self.outputs[step.get("id", name)] = values
            if proc.returncode != 0 and not step.get("continue-on-error"):
                break
        return codes

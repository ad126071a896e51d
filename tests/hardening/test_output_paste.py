"""Output in CI logs and pipes: commands and paths are never hard-wrapped; tables fit."""

from __future__ import annotations

import os

from tests.conftest import run_mlx


def _no_columns_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)  # a pipe with no width hint, as in CI
    return env


def test_suggested_commit_command_is_one_pasteable_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("mlx")
    proc = subprocess.run(
        [str(exe), "init", "churn", "--example"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_no_columns_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "git commit -m" in ln]
    assert lines, proc.stdout
    line = lines[0].strip()
    assert line.startswith("git add ") and line.endswith("git commit -m 'Set up mlx'"), line
    assert len(line) > 80  # the case that used to wrap


def test_long_error_paths_are_not_wrapped(tmp_path):
    deep = tmp_path / ("very-long-folder-name-" * 4) / ("another-long-folder-" * 3)
    deep.mkdir(parents=True)
    (deep / "mlops.yaml").write_text("data:\n  train: x.csv\n  target: y\nmodel:\n  nme: m\n")
    res = run_mlx(
        "validate", "--config-only", "--config", str(deep / "mlops.yaml"), env={"COLUMNS": ""}
    )
    assert res.exit_code == 2
    assert any(str(deep / "mlops.yaml") in ln for ln in res.stderr.splitlines()), res.stderr


def test_drift_table_reasons_are_readable_at_100_columns(monitored):
    # a long feature name (as real tables have) must not squeeze the reason into "…"
    long = "customer_preferred_payment_method"
    meta = monitored / "models" / "churn" / "metadata.json"
    meta.write_text(meta.read_text().replace('"payment_method"', f'"{long}"'))
    live = (monitored / "data" / "live.csv").read_text().split("\n", 1)
    (monitored / "current.csv").write_text(live[0].replace("payment_method", long) + "\n" + live[1])
    res = run_mlx("monitor", "--current", "current.csv", cwd=monitored, env={"COLUMNS": "100"})
    assert res.exit_code == 1, res.output  # the example's live data drifts
    table = [ln for ln in res.stdout.splitlines() if ln.startswith(("┃", "│", "┏", "└"))]
    assert table, res.stdout
    assert all(len(ln) <= 100 for ln in table), max(table, key=len)
    assert "…" not in res.stdout  # cells fold, never truncate
    # the categorical reason, folded across lines, reads whole when the cells are joined
    why = " ".join(ln.split("│")[-2].strip() for ln in table if ln.startswith("│"))
    assert "contingency test" in why or "unseen categories" in why, why

"""Writing a report: HTML, markdown summary, and GitHub Actions outputs.

Under GitHub Actions (``GITHUB_ACTIONS=true``) the verdict goes to ``$GITHUB_OUTPUT``
(``drift``, ``status``, ``drift_share``, ``drifted``, ``report``, and ``retrain_branch``
after a retrain) so a workflow can branch on it or open a PR, and the markdown summary
is appended to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlx.monitor.engine import MonitorReport


def write_html(report: MonitorReport, path: Path) -> Path:
    from mlx.monitor.report_html import render
    from mlx.util.atomic import write_text

    write_text(path, render(report))
    return path


def write_summary(report: MonitorReport, path: Path) -> Path:
    from mlx.monitor.markdown import summary
    from mlx.util.atomic import write_text

    write_text(path, summary(report))
    return path


def github_outputs(report: MonitorReport, html: Path | None) -> dict[str, str]:
    """The key=value pairs written to ``$GITHUB_OUTPUT`` (also returned for tests/JSON)."""
    v = report.verdict
    values = {
        "drift": "true" if v.drift else "false",
        "status": v.status,
        "ok": "true" if v.ok else "false",
        "drift_share": f"{v.drift_share:.4f}",
        "drifted": ",".join(v.drifted),
    }
    if html is not None:
        values["report"] = str(html)
    if report.retrain and report.retrain.get("branch"):
        values["retrain_branch"] = report.retrain["branch"]
        values["retrain_passed"] = "true" if report.retrain.get("passed") else "false"
    return values


def write_github(report: MonitorReport, html: Path | None) -> bool:
    """Append outputs and the step summary when running under GitHub Actions."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return False
    from mlx.monitor.markdown import summary

    out = os.environ.get("GITHUB_OUTPUT")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            for key, value in github_outputs(report, html).items():
                fh.write(f"{key}={value.replace(chr(10), ' ')}\n")
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a", encoding="utf-8") as fh:
            fh.write(summary(report))
    return True

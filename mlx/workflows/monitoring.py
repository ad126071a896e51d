"""``mlx monitor``: the drift check, then what the project says to do about it.

The check itself (:mod:`mlx.monitor.pipeline`) compares current data with the model's
reference profile; this layer adds the decisions above it: retrain on drift
(:mod:`mlx.workflows.retrain`), and the report files (HTML, markdown, GitHub outputs).
"""

from __future__ import annotations

from pathlib import Path

from mlx.config.model import ProjectConfig
from mlx.errors import UsageError
from mlx.monitor.engine import MonitorReport


def run_monitor(
    project: ProjectConfig | None,
    ref: str | None,
    current: Path | None,
    *,
    since: str | None = None,
    reference: Path | None = None,
    labels: Path | None = None,
    report: Path | None = None,
    summary: Path | None = None,
    score: bool = True,
    on_drift: str | None = None,
) -> MonitorReport:
    """Check ``current`` (a file or a prediction-log folder; default ``monitor.current``)
    against the model ``ref``'s reference; retrain on drift when asked."""
    from mlx.monitor import outputs, pipeline
    from mlx.monitor.current import parse_since

    model = pipeline.open_reference(project, ref)
    if current is None:
        if project is None or not project.config.monitor.current:
            raise UsageError(
                "no current data", hint="pass --current FILE|LOGDIR or set monitor.current"
            )
        current = project.resolve(project.config.monitor.current)
    result = pipeline.monitor(
        project,
        model,
        current,
        since=parse_since(since) if since else None,
        reference_file=reference,
        labels_file=labels,
        score=score,
    )
    action = on_drift or (project.config.monitor.on_drift if project else "none")
    if action == "retrain" and result.drift:
        from mlx.workflows.retrain import retrain

        if project is None:
            raise UsageError("--on-drift retrain needs an mlops.yaml")
        result.retrain = retrain(project, result)
    html = outputs.write_html(result, report) if report is not None else None
    if html is not None:
        result.outputs["report"] = str(html)
    if summary is not None:
        result.outputs["summary"] = str(outputs.write_summary(result, summary))
    if outputs.write_github(result, html):
        result.outputs["github"] = outputs.github_outputs(result, html)
    return result

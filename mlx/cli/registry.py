"""`mlx show`, `mlx history`, `mlx lineage`, `mlx check-ref`: reading the registry."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, session


def register(app: typer.Typer) -> None:
    app.command("show")(show)
    app.command("history")(history)
    app.command("lineage")(lineage)
    app.command("check-ref")(check_ref)


def show(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Artifact to show with all its versions (default: every artifact)."),
    ] = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Artifacts, their latest version and who holds each stage."""
    with session(json_output, "show") as out:
        from mlx import api

        result = api.show(name, config=config)
        out.emit(result.to_dict(), lambda o: _render_show(o, result))


def _render_show(out: Output, result) -> None:
    rows = []
    for a in result.artifacts:
        label = a.name + (" (deprecated)" if a.deprecated else "")
        latest = a.latest["version"] if a.latest else "-"
        stages = [(a.stages.get(s) or {}).get("version", "-") for s in result.stages]
        rows.append([label, latest, *stages])
    out.table(None, ["artifact", "latest", *[f"#{s}" for s in result.stages]], rows)
    if result.name is None:
        return
    for a in result.artifacts:
        if not a.versions:
            out.print(f"{a.name}: no versions registered yet")
            continue
        out.table(
            f"{a.name} versions",
            ["version", "status", "stages", "commit", "registered", "by"],
            [
                [
                    v["version"],
                    v["status"],
                    ", ".join(v["stages"]),
                    v["commit"][:7],
                    (v["registered_at"] or "")[:19].replace("T", " "),
                    v["author"],
                ]
                for v in a.versions
            ],
        )


def history(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Artifact name (default: every artifact)."),
    ] = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The journal of registrations, assignments and deprecations, newest first."""
    with session(json_output, "history") as out:
        from mlx import api

        result = api.history(name, config=config)

        def render(o: Output) -> None:
            o.table(
                None,
                ["date", "artifact", "event", "version", "stage", "commit", "by", "reason"],
                [
                    [
                        e["created_at"][:19].replace("T", " "),
                        e["artifact"],
                        e["event"],
                        e["version"],
                        e["stage"],
                        e["commit"][:7],
                        e["author"],
                        (e["lineage"] or {}).get("reason"),
                    ]
                    for e in result.events
                ],
            )

        out.emit(result.to_dict(), render)


def lineage(
    ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            help="NAME#STAGE, NAME@vX.Y.Z, NAME@latest, commit, tag or folder "
            "(default: the work-tree model)."
        ),
    ] = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Where a model came from: commit, data md5, params, seed, metrics, parent, runner."""
    with session(json_output, "lineage") as out:
        from mlx import api

        result = api.lineage(ref, config=config)
        out.emit(result.to_dict(), lambda o: _render_lineage(o, result))


def _render_lineage(out: Output, lin) -> None:
    from rich.markup import escape

    r = lin.resolved
    rows: list[list] = [
        ["model", r.label],
        ["commit", r.commit or "(work tree)"],
        ["stages", ", ".join(lin.stages) or "-"],
        ["model md5", lin.model.get("md5")],
    ]
    if lin.registration:
        reg = lin.registration
        rows.append(["registered", f"{reg['version']} {reg['at'][:19]} by {reg['by']}"])
    if lin.parent:
        rows.append(["parent", f"{lin.parent['version']} ({lin.parent['commit'][:7]})"])
    if lin.data:
        rows.append(["data", f"{lin.data.get('path')} md5 {lin.data.get('md5')}"])
    rows.append(["seed", lin.seed])
    if lin.run:
        run = lin.run
        label = run.get("name") or run.get("experiment") or "-"
        if run.get("experiment") and run.get("name"):
            label += f" (experiment {run['experiment']})"
        if run.get("tune"):
            label += f"; params of tune#{run['tune'].get('trial')} ({run['tune'].get('table')})"
        if run.get("overrides"):
            label += "; --set " + " ".join(f"{k}={v}" for k, v in run["overrides"].items())
        rows.append(["run", label])
    if lin.params:
        rows.append(["params", ", ".join(f"{k}={v}" for k, v in sorted(lin.params.items()))])
    if lin.metrics:
        rows.append(["metrics", _fmt_metrics(lin.metrics)])
    if lin.eval:
        verdict = "passed" if lin.eval["passed"] else "FAILED"
        rows.append(["eval", f"{verdict}; {_fmt_metrics(lin.eval.get('metrics') or {})}"])
    if lin.runner:
        rows.append(["runner", f"{lin.runner.get('name')} ({lin.runner.get('kind')})"])
    if lin.packages:
        rows.append(["packages", ", ".join(f"{k} {v}" for k, v in lin.packages.items())])
    if lin.trained_at:
        rows.append(["trained", lin.trained_at])
    out.table(
        None, ["", ""], [[escape(str(a)), escape(str(b))] for a, b in rows], show_header=False
    )


def _fmt_metrics(metrics: dict) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
    )


def check_ref(
    ref: Annotated[str, typer.Argument(help="The tag (or refs/tags/...) to explain.")],
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """What a pushed tag means (event, name, version, stage); writes $GITHUB_OUTPUT in CI."""
    with session(json_output, "check-ref") as out:
        from mlx import api

        result = api.check_ref(ref, config=config)
        outputs = result.github_outputs()
        target = os.environ.get("GITHUB_OUTPUT")
        if os.environ.get("GITHUB_ACTIONS") == "true" and target:
            with open(target, "a", encoding="utf-8") as fh:
                fh.writelines(f"{k}={v}\n" for k, v in outputs.items())

        def render(o: Output) -> None:
            if result.event is None:
                o.print(result.note)
                return
            for key, value in outputs.items():
                o.print(f"{key}={value}")

        out.emit(result.to_dict(), render)

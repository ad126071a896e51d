"""`mlx eval`: metrics, gates, checks, plots and a report."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlx.cli._options import CheckRunnerOpt, ConfigOpt, JsonOpt
from mlx.cli._output import Output, finish, session


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)


def eval_(
    ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            help="Model to evaluate: a registry ref or a model folder (default: the working tree's)."
        ),
    ] = None,
    config: ConfigOpt = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="Commit the eval results and dvc.yaml.")
    ] = False,
    runner: CheckRunnerOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Score the ONNX model on its test split; gates and checks; exit 1 if any fails."""
    with session(json_output, "eval") as out:
        from mlx import api

        result = api.evaluate(config, ref=ref, commit=commit, runner=runner, log=out.remote_log)
        out.emit(result.to_dict(), lambda o: _render(o, result))
        finish(result.passed)


def _render(out: Output, result) -> None:
    from rich.markup import escape

    doc = result.doc
    base = (doc.get("baseline") or {}).get("metrics") or {}
    columns = ["metric", "value"] + (["baseline", "change"] if base else [])
    rows = []
    for key, value in doc["metrics"].items():
        row = [key, f"{value:.4f}"]
        if base:
            b = base.get(key)
            row += [
                f"{b:.4f}" if b is not None else "–",
                f"{value - b:+.4f}" if b is not None else "",
            ]
        rows.append(row)
    out.table(f"{doc['model']['name']} on {doc['data']['test_rows']} test rows", columns, rows)
    gates = doc["gates"]
    if gates["results"]:
        out.table(
            "gates",
            ["", "metric", "rule", "detail"],
            [
                [
                    "[green]pass[/]" if g["passed"] else "[red]FAIL[/]",
                    g["metric"],
                    g["rule"],
                    escape(g["reason"]),
                ]
                for g in gates["results"]
            ],
        )
    for skipped in gates["skipped"]:
        out.print(f"[dim]skipped[/] {escape(skipped)}")
    for name, check in doc["checks"].items():
        mark = "[green]pass[/]" if check["passed"] else "[red]FAIL[/]"
        out.print(f"{mark} {name.replace('_', ' ')}: {escape(check['reason'])}")
    for note in result.notes:
        out.print(f"[dim]note[/] {escape(note)}")
    if result.runner and result.runner.get("where") != "here":
        out.print(
            f"ran on {escape(str(result.runner.get('address')))} (runner {result.runner['name']})"
        )
    verdict = "[green]passed[/]" if result.passed else "[red]failed[/]"
    out.print(
        f"eval {verdict}; results in {escape(result.eval_dir)} (report.md, metrics.json, plots/)"
    )
    if result.commit:
        out.print(f"[green]committed[/] {result.commit[:10]}")
    elif result.changed:
        out.print("Changed (not committed): " + ", ".join(escape(c) for c in result.changed))

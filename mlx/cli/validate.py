"""`mlx validate`: the config, then the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlx.cli._options import CheckRunnerOpt, ConfigOpt, JsonOpt
from mlx.cli._output import Output, finish, session


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    config: ConfigOpt = None,
    config_only: Annotated[
        bool,
        typer.Option("--config-only", help="Check mlops.yaml only (fast; for pre-commit hooks)."),
    ] = False,
    infer: Annotated[
        bool,
        typer.Option(
            "--infer", help="Write a pandera schema inferred from the data, then validate."
        ),
    ] = False,
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--data", help="Validate this file instead of data.train."),
    ] = None,
    runner: CheckRunnerOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Check mlops.yaml and the training data against its rules; exit 1 on any failure."""
    with session(json_output, "validate") as out:
        from mlx import api

        result = api.validate(
            config,
            config_only=config_only,
            infer=infer,
            data=data,
            runner=runner,
            log=out.remote_log,
        )
        out.emit(result.to_dict(), lambda o: _render(o, result))
        finish(result.ok)


def _render(out: Output, result) -> None:
    out.plain(f"ok  config {result.config_path} (model {result.model}, {result.task})")
    if result.data is None and not result.notes and not result.schema_written:
        return  # --config-only: no rich import on the pre-commit path
    from rich.markup import escape

    if result.schema_written:
        out.print(f"[green]wrote[/] schema {escape(result.schema_written)}")
    for note in result.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    if result.data is not None:
        render_data(out, result.data)


def render_data(out: Output, report) -> None:
    """The data part of a validation: one line when it passed, else a table of failures."""
    from rich.markup import escape

    if getattr(report, "checked_against", None):
        out.print(
            f"[dim]no rules in mlops.yaml: checked against the schema of the model "
            f"{escape(report.checked_against)}[/]"
        )
    if report.ok:
        out.print(
            f"[green]ok[/]  data {escape(report.path)}: {report.rows} rows, {report.columns} columns"
        )
        return
    rows = [
        [
            f.column or "-",
            f.check,
            ", ".join(_fmt(v) for v in f.values) if f.values or not f.hint else f.hint,
            f.count,
            ", ".join(map(str, f.rows)),
        ]
        for f in report.failures
    ]
    out.table(
        f"{report.path}: {len(report.failures)} failed checks ({report.rows} rows)",
        ["column", "check", "failing values", "count", "rows"],
        rows,
    )


def _fmt(value) -> str:
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)

"""`mlx init`: create or complete a project."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlx.cli._options import JsonOpt
from mlx.cli._output import Output, session


class CiService(str, Enum):
    github = "github"


STATUS_STYLE = {"created": "green", "updated": "yellow", "unchanged": "dim", "skipped": "dim"}


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    path: Annotated[Path, typer.Argument(help="Project folder (created if missing).")] = Path("."),
    example: Annotated[
        bool,
        typer.Option(
            "--example", help="Add the bundled churn dataset (DVC-tracked) and its config."
        ),
    ] = False,
    remote: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--remote", help="DVC remote URL (default: a local folder that needs no set-up)."
        ),
    ] = None,
    hooks: Annotated[
        bool,
        typer.Option(
            "--hooks",
            help="Install git hooks: pre-commit validates mlops.yaml (and the data when it "
            "changed), pre-push refuses registry tags whose files are not in the DVC remote.",
        ),
    ] = False,
    ci: Annotated[
        Optional[CiService],  # noqa: UP045
        typer.Option(
            "--ci",
            help="Write CI workflows for this service (github): pull requests, registry "
            "tags, scheduled monitoring.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Set up git, DVC (analytics off), a DVC remote, mlops.yaml and .gitignore. Commits nothing."""
    with session(json_output, "init") as out:
        from mlx import api

        ci_name = ci.value if ci is not None else None
        result = api.init(path, example=example, remote=remote, hooks=hooks, ci=ci_name)
        out.emit(result.to_dict(), lambda o: _render(o, result))


def _render(out: Output, result) -> None:
    from rich.markup import escape

    for action in result.actions:
        style = STATUS_STYLE.get(action.status, "")
        out.print(
            f"[{style}]{action.status:>9}[/]  {escape(action.what)}  [dim]{escape(action.path)}[/]"
        )
        if action.note:
            out.print(f"{'':>9}  [yellow]{escape(action.note)}[/]")
    if not result.changed:
        out.print("Nothing to do: this folder is already an mlx project.")
    if result.next_steps:
        out.print("\nNext:")
        for step in result.next_steps:
            out.print(f"  {escape(step)}")

"""`mlx hook`: what the git hooks installed by `mlx init --hooks` run."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, finish, session


class HookName(str, Enum):
    pre_commit = "pre-commit"
    pre_push = "pre-push"


def register(app: typer.Typer) -> None:
    app.command("hook")(hook)


def hook(
    name: Annotated[HookName, typer.Argument(help="Which hook: pre-commit or pre-push.")],
    args: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="What git passes the hook (pre-push: remote name and URL)."),
    ] = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Run a git hook's checks: pre-commit (config, data if changed), pre-push (registry tags).

    pre-push reads git's ref lines from standard input. Exit 1 blocks the commit or push.
    """
    with session(json_output, "hook") as out:
        from mlx import api

        if name is HookName.pre_commit:
            staged = api.hook_pre_commit(config)
            out.emit(staged.to_dict(), lambda o: _render_pre_commit(o, staged))
            finish(staged.ok)
        else:
            remote = args[0] if args else None
            pushed = api.hook_pre_push(sys.stdin.read().splitlines(), remote, config)
            out.emit(pushed.to_dict(), lambda o: _render_pre_push(o, pushed))
            finish(pushed.ok)


def _render_pre_commit(out: Output, result) -> None:
    from rich.markup import escape

    source = "staged" if result.config_source == "index" else "not staged"
    out.print(f"[green]ok[/]  mlx: {escape(result.config)} ({source}) is valid")
    if not result.data_checked:
        return
    out.print(f"mlx: checking the data: {escape('; '.join(result.reasons))}")
    from mlx.cli.validate import render_data

    render_data(out, result.data)
    if not result.ok:
        out.print("[red]mlx: commit blocked[/] (fix the data or the rules; --no-verify skips)")


def _render_pre_push(out: Output, result) -> None:
    from rich.markup import escape

    for tag in result.tags:
        if tag.note:
            out.print(f"[dim]mlx: {escape(tag.tag)}: {escape(tag.note)}[/]")
        if not tag.missing:
            out.print(
                f"[green]ok[/]  mlx: {escape(tag.tag)}: {len(tag.files)} files in "
                f"DVC remote {escape(str(result.dvc_remote))}"
            )
            continue
        out.print(
            f"[red]refused[/] mlx: {escape(tag.tag)} ({tag.commit[:10] if tag.commit else '?'}): "
            f"{len(tag.missing)} of its files are not in DVC remote {escape(str(result.dvc_remote))}:"
        )
        for f in tag.missing:
            out.print(f"  {escape(f['path'])} ({f['role']}, md5 {f['md5']})")
    hint = result.push_hint()
    if hint:
        out.print(f"Push them first: [bold]{escape(hint)}[/]")
        out.print("then push the tag again. `git push --no-verify` skips this check.")

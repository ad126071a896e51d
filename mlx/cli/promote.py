"""`mlx promote`, `mlx demote`, `mlx deprecate`: registry writes (GTO-format git tags)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, session


class Bump(str, Enum):
    major = "major"
    minor = "minor"
    patch = "patch"


StageOpt = Annotated[
    str, typer.Option("--stage", "-s", help="Stage (one of registry.stages in mlops.yaml).")
]
ReasonOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--reason", "-m", help="Why; recorded in the tag message."),
]
PushOpt = Annotated[
    bool,
    typer.Option(
        "--push",
        help="Push model files to the DVC remote, then the tags to registry.git_remote.",
    ),
]

TagPushOpt = Annotated[bool, typer.Option("--push", help="Push the tag to registry.git_remote.")]


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("demote")(demote)
    app.command("deprecate")(deprecate)


def promote(
    ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            help="Model to promote: commit, tag, NAME@vX.Y.Z, folder (default: the committed "
            "work-tree model). With --rollback/--unassign: the artifact NAME."
        ),
    ] = None,
    stage: StageOpt = ...,  # type: ignore[assignment]
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--version", help="Register as this version (vX.Y.Z, above the greatest)."),
    ] = None,
    bump: Annotated[
        Optional[Bump],  # noqa: UP045
        typer.Option("--bump", help="Bump the greatest version by this part (default: patch)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote despite missing or failed eval (needs --reason)."),
    ] = False,
    reason: ReasonOpt = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Give the stage back to its previous holder.")
    ] = False,
    unassign: Annotated[
        bool,
        typer.Option("--unassign", help="Unassign the stage (same as `mlx demote`)."),
    ] = False,
    push: PushOpt = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Register a model version (if new) and assign it a stage, as GTO git tags."""
    with session(json_output, "promote") as out:
        from mlx import api
        from mlx.registry.promote import StageChange

        asked = StageChange(
            stage=stage,
            version=version,
            bump=bump.value if bump else None,
            force=force,
            reason=reason,
            push=push,
            rollback=rollback,
            unassign=unassign,
        )
        change = api.promote(asked, ref, config)
        out.emit(change.to_dict(), lambda o: render_change(o, change))


def demote(
    ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Artifact NAME (its stage holder) or a version reference."),
    ] = None,
    stage: StageOpt = ...,  # type: ignore[assignment]
    reason: ReasonOpt = None,
    push: TagPushOpt = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Unassign a stage (GTO's NAME#STAGE!#N tag); the previous holder takes it back."""
    with session(json_output, "demote") as out:
        from mlx import api

        change = api.demote(ref, stage=stage, reason=reason, push=push, config=config)
        out.emit(change.to_dict(), lambda o: render_change(o, change))


def deprecate(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Artifact name (default: model.name)."),
    ] = None,
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="Deregister only this version (NAME@vX.Y.Z!)."),
    ] = None,
    reason: ReasonOpt = None,
    push: TagPushOpt = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Deprecate an artifact (NAME@deprecated) or deregister one version (NAME@vX.Y.Z!)."""
    with session(json_output, "deprecate") as out:
        from mlx import api

        change = api.deprecate(name, version, reason=reason, push=push, config=config)
        out.emit(change.to_dict(), lambda o: render_change(o, change))


def render_change(out: Output, change) -> None:
    from rich.markup import escape

    who = f"{change.name}@{change.version}" if change.version else change.name
    if change.unchanged:
        out.print(f"[dim]unchanged[/] {escape(who)} already holds {escape(change.stage or '')}")
    elif change.action == "promote":
        verb = "registered and promoted" if change.registered else "promoted"
        prev = f" (was {change.previous})" if change.previous else ""
        out.print(f"[green]{verb}[/] {escape(who)} to {escape(change.stage)}{escape(prev)}")
    elif change.action == "rollback":
        out.print(
            f"[green]rolled back[/] {escape(change.stage)}: {escape(change.previous or '')} → "
            f"{escape(change.version or '')}"
        )
    elif change.action == "demote":
        now = change.holder or "nobody"
        out.print(
            f"[yellow]unassigned[/] {escape(change.stage)} from {escape(who)}; "
            f"{escape(change.stage)} now: {escape(now)}"
        )
    elif change.action == "deregister":
        out.print(f"[yellow]deregistered[/] {escape(who)}")
    else:
        out.print(f"[yellow]deprecated[/] {escape(change.name)}")
    if change.forced:
        out.print(f"[yellow]forced[/] reason recorded: {escape(change.reason or '')}")
    for tag in change.tags:
        out.print(f"  tag {escape(tag)}")
    for note in change.notes:
        out.print(f"[dim]note[/] {escape(note)}")
    if change.pushed:
        tags = ", ".join(change.pushed.get("tags") or [])
        files = change.pushed.get("files")
        what = f"{files} model file(s) to DVC, " if files is not None else ""
        out.print(
            f"[green]pushed[/] {what}tags {escape(tags)} to {change.pushed.get('git_remote')}"
        )

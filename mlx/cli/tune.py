"""`mlx tune`: hyperparameter search over tune.space, every trial recorded in Git."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt, TuneRunnerOpt
from mlx.cli._output import Output, session


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def tune(
    trials: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--trials", "-n", min=1, help="Number of trials (default: tune.trials)."),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write the best trial's params into mlops.yaml model.params."),
    ] = False,
    jobs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--jobs", "-j", min=0, help="Trials at once (default: tune.jobs, 0 = one per core)."
        ),
    ] = None,
    runner: TuneRunnerOpt = None,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Search LightGBM params (Optuna TPE seeded from model.seed, median pruning); record every trial."""
    with session(json_output, "tune") as out:
        from mlx import api

        with _bar(out) as bar:
            task = bar.add_task("trials", total=trials, best="-")

            def progress(done: int, total: int, best: float | None) -> None:
                shown = "-" if best is None else f"{best:.4f}"
                bar.update(task, completed=done, total=total, best=shown)

            result = api.tune(
                config, trials=trials, jobs=jobs, apply=apply, progress=progress,
                runner=runner, log=out.remote_log,
            )  # fmt: skip
        out.emit(result.to_dict(), lambda o: _render(o, result))
        if result.interrupted:
            raise typer.Exit(130)


def _bar(out: Output):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=out.err,
        transient=True,
        disable=out.json and not out.err.is_terminal,
    )


def _render(out: Output, result) -> None:
    from rich.markup import escape

    c = result.counts
    out.print(
        f"[green]tuned[/] {result.name}: {len(result.trials)} trials "
        f"({c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed) in "
        f"{result.duration_s:.1f} s, {result.jobs} at a time; {result.metric} "
        f"({result.direction}) on the validation split"
    )
    if result.interrupted:
        out.print("[yellow]interrupted[/]: finished trials are kept")
    shown = sorted(
        (t for t in result.trials if t["state"] == "complete"),
        key=lambda t: t["value"],
        reverse=result.direction == "maximize",
    )[:10]
    if shown:
        keys = list(shown[0]["params"])
        out.table(
            f"best trials (of {len(result.trials)})",
            ["trial", result.metric, *keys, "rounds"],
            [
                [
                    f"tune#{t['number']}",
                    f"{t['value']:.4f}",
                    *(_short(t["params"].get(k)) for k in keys),
                    t.get("rounds"),
                ]
                for t in shown
            ],
        )
    failed = [t for t in result.trials if t["state"] == "failed"]
    for t in failed[:5]:
        out.print(f"[yellow]failed[/] tune#{t['number']}: {escape(str(t['reason']))}")
    if result.best:
        best = ", ".join(f"{k}={_short(v)}" for k, v in result.best["params"].items())
        out.print(
            f"best: tune#{result.best['trial']} {result.metric}={result.best['value']:.4f}  {escape(best)}"
        )
    if result.applied:
        changed = ", ".join(result.applied["changed"]) or "nothing (already set)"
        out.print(
            f"[green]applied[/] to {escape(result.applied['file'])} model.params: {escape(changed)}"
        )
    out.print(f"trials table: {escape(result.table)}")
    for note in result.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    if result.next_steps:
        out.print("Next:")
        for step in result.next_steps:
            out.print(f"  {escape(step)}")


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

"""`mlx train`: LightGBM → ONNX with lineage."""

from __future__ import annotations

from typing import Annotated

import typer

from mlx.cli._options import ConfigOpt, JsonOpt, RunnerOpt
from mlx.cli._output import Output, session


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    config: ConfigOpt = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="Commit the model pointers, metadata and dvc.yaml.")
    ] = False,
    runner: RunnerOpt = None,
    ship_data: Annotated[
        bool,
        typer.Option(
            "--ship-data", help="Remote runners: send the data instead of `dvc pull` there."
        ),
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override one config key for this run (dotted, repeatable), "
            "e.g. --set model.params.num_leaves=63; recorded in the model's lineage.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Label this run (shown by mlx runs and diff).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Validate the data, train LightGBM, export ONNX (preprocessing inside), check parity, track with DVC."""
    with session(json_output, "train") as out:
        from mlx import api

        with out.progress() as bar:
            task = bar.add_task("boosting rounds", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = api.train(
                config,
                runner=runner,
                commit=commit,
                progress=progress,
                ship_data=ship_data,
                log=out.remote_log,
                overrides=overrides,
                name=name,
            )
        out.emit(result.to_dict(), lambda o: _render(o, result))


def _render(out: Output, result) -> None:
    from rich.markup import escape

    shown = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    out.print(f"[green]trained[/] {result.name} ({result.task}) → {escape(result.model_dir)}")
    out.print(f"  test split: {shown}")
    out.print(
        f"  parity ONNX vs LightGBM: max |Δ| = {result.parity['max_abs_diff']:.2g} "
        f"over {result.parity['rows']} rows (tolerance {result.parity['tolerance']:g})"
    )
    out.print(
        f"  model.onnx md5 {result.onnx_md5}; data {escape(result.data['path'])} md5 {result.data['md5']}"
    )
    runner = result.runner
    if runner.get("kind") not in (None, "local"):
        where = runner.get("address") or runner.get("scheduler") or runner.get("host")
        out.print(
            f"  ran on {escape(str(where))} (runner {escape(runner['name'])}, "
            f"{runner.get('kind')}, {runner.get('duration_s', 0):.1f} s)"
        )
    for note in result.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    if result.commit:
        out.print(f"[green]committed[/] {result.commit[:10]}")
    elif result.changed:
        out.print("Changed (not committed): " + ", ".join(escape(c) for c in result.changed))
    if result.next_steps:
        out.print("Next:")
        for step in result.next_steps:
            out.print(f"  {escape(step)}")

"""`mlx monitor`: drift, data quality and prediction monitoring against the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, finish, session

STATUS_STYLE = {
    "missing": "bold red",
    "quality": "red",
    "drift": "red",
    "insufficient": "dim",
    "ok": "green",
}
VERDICT = {
    "drift": "[bold red]DRIFT[/]",
    "quality": "[bold red]DATA QUALITY FAILED[/]",
    "insufficient": "[yellow]NOT ENOUGH DATA[/]",
    "ok": "[bold green]NO DRIFT[/]",
}


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def monitor(
    ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            help="Model: a model folder (default: the config's model folder).",
            show_default=False,
        ),
    ] = None,
    current: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--current",
            help="Current data: a CSV/Parquet file or a prediction-log folder "
            "(default: monitor.current).",
        ),
    ] = None,
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--since",
            help="Only rows with _ts at or after this: a duration (24h, 7d, 2w) or an ISO "
            "date/datetime (UTC unless it says otherwise).",
        ),
    ] = None,
    reference: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--reference",
            help="Recompute the reference profile from this file instead of the stored one.",
        ),
    ] = None,
    labels: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--labels",
            help="File with the id column and the target: live metrics vs those at train time.",
        ),
    ] = None,
    report: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--report", help="Write a self-contained HTML report here."),
    ] = None,
    summary: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--summary", help="Write a markdown summary here (for CI step summaries)."),
    ] = None,
    score: Annotated[
        bool,
        typer.Option(
            "--score/--no-score",
            help="Run the model on a file without _score to check prediction drift.",
        ),
    ] = True,
    on_drift: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--on-drift",
            help="none or retrain: on drift, train + eval and commit the model on a branch "
            "(default: monitor.on_drift).",
        ),
    ] = None,
    compare: Annotated[
        Optional[tuple[str, str]],  # noqa: UP045
        typer.Option(
            "--compare",
            help="REF_A REF_B: compare two served versions on the prediction logs (--current: "
            "the log folder; default serve.prediction_log.dir): agreement, score shift, latency.",
            metavar="REF_A REF_B",
        ),
    ] = None,
    access_log: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--access-log", help="--compare: mlx serve's access log (stderr) for latency."
        ),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="--compare: print the comparison as markdown.")
    ] = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Compare current data with the model's reference profile; exit 1 on drift or bad data."""
    with session(json_output, "monitor") as out:
        from mlx import api
        from mlx.errors import UsageError

        if compare is not None:
            compared = api.monitor_compare(
                compare[0], compare[1], config=config, logs=current, since=since,
                labels=labels, access_log=access_log,
            )  # fmt: skip
            if markdown and not json_output:
                from mlx.monitor.compare import markdown as to_markdown

                out.console.print(to_markdown(compared), markup=False, highlight=False)
                return
            out.emit(compared.to_dict(), lambda o: _render_compare(o, compared))
            return

        if on_drift not in (None, "none", "retrain"):
            raise UsageError(f"--on-drift {on_drift!r}: use none or retrain")
        result = api.monitor(
            ref,
            current,
            config=config,
            since=since,
            reference=reference,
            labels=labels,
            report=report,
            summary=summary,
            score=score,
            on_drift=on_drift,
        )
        out.emit(result.to_dict(), lambda o: _render(o, result))
        finish(result.ok)


def _render(out: Output, result) -> None:
    from rich.markup import escape

    v = result.verdict
    cur = result.current
    out.print(
        f"{VERDICT[v.status]}  {escape(str(cur['source']))}: {cur['rows']:,} rows vs reference "
        f"{result.reference['rows']:,} rows; drifted importance {v.drift_share:.0%} "
        f"(bound {v.bound:.0%})"
    )
    from rich.table import Table

    # the reason is the column people read: it folds (never "…") and keeps room for itself
    # at 100 columns (fits 100 exactly with short names); long feature names fold too
    table = Table(title="features ranked by severity", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("feature", overflow="fold", max_width=20)
    for col in ("importance", "PSI", "KS", "W (σ)"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("why", ratio=1, overflow="fold", min_width=26)
    for f in result.features:
        s = f.stats
        why = f.reasons[0] if f.reasons else ""
        if len(f.reasons) > 1:
            why += f" (+{len(f.reasons) - 1} more)"
        table.add_row(
            f"[{STATUS_STYLE[f.status]}]{f.status}[/]",
            escape(f.name),
            f"{f.importance:.3f}",
            _num(s.get("psi")),
            _num(s.get("ks")),
            _num(s.get("wasserstein")),
            escape(why),
        )
    out.print(table)
    if result.prediction is not None:
        p = result.prediction
        style = STATUS_STYLE[p.status]
        out.print(
            f"predictions: [{style}]{p.status}[/] (PSI {_num(p.stats.get('psi'))}, "
            f"KS {_num(p.stats.get('ks'))}) {escape('; '.join(p.reasons))}"
        )
    if result.performance:
        perf = result.performance
        out.table(
            f"live metrics on {perf['rows']:,} labelled rows",
            ["metric", "live", "train", "change"],
            [
                [
                    m["metric"],
                    _num(m["live"], 4),
                    _num(m["train"], 4),
                    "" if m["change"] is None else f"{m['change']:+.1%}",
                ]
                for m in perf["metrics"]
            ],
        )
    for reason in v.reasons:
        out.print(f"[bold]•[/] {escape(reason)}")
    for note in result.notes:
        out.print(f"[yellow]note[/] {escape(note)}")
    if result.retrain:
        out.print(f"retrain: {escape(str(result.retrain.get('message', result.retrain)))}")
    for key in ("report", "summary"):
        if key in result.outputs:
            out.print(f"[green]wrote[/] {key} {escape(result.outputs[key])}")


def _render_compare(out: Output, c) -> None:
    from rich.markup import escape

    s = c.score_shift
    agree = "n/a" if c.agreement is None else f"{c.agreement:.1%}"
    out.print(
        f"[bold]{escape(c.a.name)} {escape(c.a.version)}[/] vs [bold]{escape(c.b.name)} "
        f"{escape(c.b.version)}[/]: {c.joined_rows:,} paired rows, agreement {agree}; score "
        f"PSI {_num(s.get('psi'))} (noise {_num(s.get('psi_noise'))}), KS {_num(s.get('ks'))} "
        f"(noise {_num(s.get('ks_noise'))})"
    )
    rows = []
    for side in (c.a, c.b):
        lat, sc = side.latency_ms or {}, side.score_ms or {}
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in (side.metrics or {}).items())
        rows.append([side.version, escape(side.ref), f"{side.rows:,}", _num(sc.get("p50"), 2), _num(sc.get("p99"), 2), _num(lat.get("p50"), 2), _num(lat.get("p99"), 2), metrics])  # fmt: skip
    headers = ["version", "ref", "rows", "scoring p50 ms", "scoring p99 ms", "request p50 ms", "request p99 ms", "live metrics"]  # fmt: skip
    out.table(None, headers, rows)
    if c.significance:
        sig = c.significance
        out.print(f"{sig['test']} on {c.labelled_rows:,} labelled paired rows: p = {sig['p_value']:.4f}")  # fmt: skip
    for note in c.notes:
        out.print(f"[yellow]note[/] {escape(note)}")


def _num(value, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"

"""`mlx serve`: the online server, or batch scoring with --batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, session
from mlx.errors import UsageError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    refs: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            help="Model(s) to serve: registry refs (churn#prod, churn@v1.2.0), commits, or "
            "model folders (default: the working tree's model); the first is the default.",
            metavar="[REF]...",
        ),
    ] = None,
    config: ConfigOpt = None,
    host: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--host", help="Address to bind (default: serve.host, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--port", "-p", help="Port (default: serve.port, 8080; 0 = any free port)."),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--workers", "-w", help="Processes sharing the port, one onnxruntime thread each."
        ),
    ] = None,
    threads: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--threads", help="onnxruntime threads per worker (online) or in total (--batch)."
        ),
    ] = None,
    token: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--token",
            help="Bearer token required on every route but health (default: the env var "
            "named by serve.token_env, MLX_SERVE_TOKEN; prefer it, a flag shows in `ps`).",
        ),
    ] = None,
    max_batch_size: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max-batch-size", help="Most rows coalesced into one onnxruntime call."),
    ] = None,
    max_delay_us: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-delay-us",
            help="Wait this long for more requests before a call (0 = never wait).",
        ),
    ] = None,
    max_queue: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max-queue", help="Queued requests per worker before new ones get 503."),
    ] = None,
    access_log: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--access-log/--no-access-log",
            help="JSON access-log lines on stderr (default: serve.access_log).",
        ),
    ] = None,
    prediction_log: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--prediction-log/--no-prediction-log",
            help="Write Parquet prediction logs (default: serve.prediction_log.enabled).",
        ),
    ] = None,
    batch: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--batch", help="Score this CSV/Parquet file instead of serving (needs --output)."
        ),
    ] = None,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", "-o", help="Where --batch writes its predictions (.csv or .parquet)."
        ),
    ] = None,
    on_error: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--on-error",
            help="--batch bad rows: fail (exit 1, nothing written) or skip (report them).",
        ),
    ] = None,
    chunk_rows: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--chunk-rows", help="--batch rows per chunk (default: serve.batch.chunk_rows)."
        ),
    ] = None,
    runner: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--runner",
            "-r",
            help="--batch on this runner from mlops.yaml `runners:` (dask: partitions scored "
            "on the cluster's workers; default: here).",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Watch the stage refs; switch to a new version live."),
    ] = False,
    interval: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--interval", help="--follow: seconds between looks at the tags (10)."),
    ] = None,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="--follow: also fetch the git remote's tags.")
    ] = False,
    shadow: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--shadow", help="Also score every request with REF off the hot path (logged)."
        ),
    ] = None,
    canary: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--canary",
            help="REF=PERCENT: that share of its model's requests is answered by REF "
            "(sticky by X-Request-Key or the id column; aborted automatically on errors).",
        ),
    ] = None,
    split: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--split", help="A/B test: A=50,B=50 (refs and percentages adding to 100)."),
    ] = None,
    policy: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--policy",
            help="fixed (the given shares) or thompson: the --split/--canary shares follow "
            "the rewards posted to /v2/models/NAME/feedback (default: serve.release.policy).",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Serve a model over HTTP (Open Inference Protocol, MLflow /invocations, /predict), or score a file with --batch."""  # noqa: E501
    with session(json_output, "serve") as out:
        from mlx import api

        ref = refs[0] if refs else None
        if refs and len(refs) > 1 and (batch is not None or output is not None):
            raise UsageError("--batch scores with one model; give one REF")

        if batch is not None or output is not None:
            if batch is None or output is None:
                raise UsageError("--batch INPUT and --output OUTPUT go together")
            if on_error not in (None, "fail", "skip"):
                raise UsageError(f"--on-error must be fail or skip, not {on_error!r}")
            _batch(out, api, ref, config, batch, output, on_error, chunk_rows, threads, runner)
            return
        if runner is not None:
            raise UsageError("--runner applies to --batch only; the server runs here")
        from mlx.serve.plan import ServeOptions

        options = ServeOptions(
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            token=token,
            max_batch_size=max_batch_size,
            max_delay_us=max_delay_us,
            max_queue=max_queue,
            access_log=access_log,
            prediction_log=prediction_log,
            json_output=json_output,
            follow=follow,
            interval=interval,
            fetch=fetch,
            shadow=shadow,
            canary=canary,
            split=split,
            policy=policy,
        )
        plan = api.serve(config, refs or None, options)
        spec = plan.spec
        if spec.host not in LOOPBACK and not spec.token:
            out.err.print(
                f"[yellow]warning:[/] listening on {spec.host} without a token; anyone who "
                f"can reach it can use it (set ${'MLX_SERVE_TOKEN'} or --token)"
            )
        if not json_output:
            out.info(
                f"starting {spec.workers} worker(s) for {spec.model.name} {spec.model.version} …"
            )
        plan.exec()


def _batch(
    out: Output, api, ref, config, batch, output, on_error, chunk_rows, threads, runner
) -> None:
    if runner is None:  # the dask runner reads partitions with dask.dataframe (pandas)
        _no_pandas_probe()
    with out.progress() as bar:
        task = bar.add_task("scoring rows", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        result = api.score_batch(
            batch,
            output,
            config,
            ref,
            on_error=on_error,
            chunk_rows=chunk_rows,
            threads=threads,
            progress=progress,
            runner=runner,
        )
    out.emit(result.to_dict(), lambda o: _render_batch(o, result))


def _render_batch(out: Output, result) -> None:
    from rich.markup import escape

    rate = f" ({result.rows_in / result.seconds:,.0f} rows/s)" if result.seconds else ""
    out.print(
        f"[green]scored[/] {result.rows_out:,} of {result.rows_in:,} rows from "
        f"{escape(result.input)} → {escape(result.output)} in {result.seconds:.2f}s{rate}"
    )
    runner = getattr(result, "runner", None)
    if runner:
        out.print(
            f"  on {runner['workers']} Dask workers at {escape(runner['scheduler'])} "
            f"({runner['partitions']} partitions)"
        )
    if result.bad_row_count:
        out.print(f"[yellow]skipped {result.bad_row_count} bad row(s)[/] (policy: skip):")
        rows = [[b.row, b.column or "-", b.value or "", b.reason] for b in result.bad_rows[:20]]
        out.table(None, ["row", "column", "value", "problem"], rows)
        if result.bad_row_count > 20:
            out.print(f"… and {result.bad_row_count - 20} more (all listed with --json)")


def _no_pandas_probe() -> None:
    """pyarrow imports pandas (~0.5 s) on its first ``pa.array`` just to probe for it;
    this short-lived process never needs it, so the probe finds none."""
    import importlib.abc
    import sys

    if "pandas" in sys.modules:
        return

    class _NoPandas(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):  # noqa: ARG002
            if name.partition(".")[0] == "pandas":
                raise ImportError("pandas is not needed by mlx serve --batch")
            return None

    sys.meta_path.insert(0, _NoPandas())

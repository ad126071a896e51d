"""`mlx runs` and `mlx diff`: every run from Git, and what changed between two models."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from mlx.cli._options import ConfigOpt, JsonOpt
from mlx.cli._output import Output, session


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("diff")(diff)


def runs(
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            help="Only runs whose run, experiment or branch name matches (wildcards allowed), "
            "or a commit prefix; the model's name means every run."
        ),
    ] = None,
    all_branches: Annotated[
        bool,
        typer.Option("--all-branches", "-A", help="Also read every local branch, not only HEAD's."),
    ] = False,
    sort: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--sort",
            help="A metric (best first, its direction is known; prefix '-' for worst first) "
            "or when/run/branch/who. Default: newest first.",
        ),
    ] = None,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--limit", "-n", min=0, help="Show at most N runs."),
    ] = None,
    passed: Annotated[
        bool, typer.Option("--passed", help="Only runs whose eval gates passed.")
    ] = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Every trained run reachable from Git: branch commits, registry versions, DVC experiments."""
    with session(json_output, "runs") as out:
        from mlx import api

        result = api.runs(name, config, all_branches, sort, limit, passed)
        out.emit(result.to_dict(), lambda o: _render_runs(o, result))


def _render_runs(out: Output, result) -> None:
    if not result.runs:
        out.print(
            f"no trained runs of {result.model} in this history yet; run `mlx train --commit`"
        )
        return
    rows = []
    for r in result.runs:
        changed = ", ".join(f"{k}={_short(v)}" for k, v in r.changed_params.items()) or "-"
        metrics = [_metric(r, m) for m in result.columns]
        passed = "-" if r.eval_passed is None else ("pass" if r.eval_passed else "FAIL")
        if r.kind == "trial":  # not a trained model: its tune state instead of eval
            passed = "trial" + ("" if r.trial["state"] == "complete" else f" {r.trial['state']}")
            passed += " (best)" if r.trial.get("best") else ""
        registry = ", ".join([*r.versions, *(f"#{s}" for s in r.stages)]) or "-"
        rows.append(
            [
                r.run,
                r.branch or ("exp" if r.experiment else "-"),
                (r.when or "")[:16].replace("T", " "),
                r.who,
                changed,
                (r.data_md5 or "")[:8] or "-",
                *metrics,
                passed,
                registry,
            ]
        )
    out.table(
        None,
        [
            "run",
            "branch",
            "when",
            "who",
            "params vs config",
            "data",
            *result.columns,
            "eval",
            "registry",
        ],
        rows,
    )
    if result.total > len(result.runs):
        out.print(f"{len(result.runs)} of {result.total} runs shown (--limit)")
    if any(r.metrics_from == "train" for r in result.runs):
        out.print("metrics without eval results are the training validation split's")
    if any(r.kind == "trial" for r in result.runs):
        out.print(
            "tune#N rows are `mlx tune` trials, not trained models (†: the tuned metric on "
            "the validation split); `mlx tune --apply` then `mlx train` makes one a run"
        )


def _metric(run, name: str) -> str:
    value = run.metrics.get(name)
    if value is None:
        return "-"
    mark = {"eval": "", "tune": "†"}.get(run.metrics_from, "*")
    return f"{value:.4f}" + mark


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def diff(
    ref_a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="NAME#STAGE, NAME@vX.Y.Z, tag, commit, branch, HEAD, folder, experiment or run name.",
        ),
    ],
    ref_b: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="[B]",
            help="The same kinds of reference (default: workspace, the work tree's model).",
        ),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the comparison as markdown (PR comments).")
    ] = False,
    config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """What changed between two models and what it did: params, code, data, metrics."""
    with session(json_output, "diff") as out:
        from mlx import api
        from mlx.experiments.markdown import render_diff_markdown

        result = api.diff(ref_a, ref_b, config=config)
        if markdown and not json_output:
            out.plain(render_diff_markdown(result))
            return
        out.emit(result.to_dict(), lambda o: _render_diff(o, result))


def _render_diff(out: Output, result) -> None:
    from mlx.experiments.markdown import delta_text

    a, b = result.a, result.b
    out.print(f"A: {a.ref} = {a.label}   B: {b.ref} = {b.label}")
    if result.same_model:
        out.print("both sides are the same model (identical ONNX md5)")
    if result.metrics:
        title = (
            "metrics (test set)"
            if result.metrics_from == "eval"
            else "metrics (training validation split)"
        )
        out.table(
            title,
            ["metric", "A", "B", "change"],
            [[m["metric"], _short(m["a"]), _short(m["b"]), delta_text(m)] for m in result.metrics],
        )
    for title, rows in (
        ("params", result.params),
        ("config", result.config),
        ("packages", result.packages),
    ):
        if rows:
            out.table(
                title, ["key", "A", "B"], [[r["key"], _short(r["a"]), _short(r["b"])] for r in rows]
            )
    code = result.code
    if code.get("commits"):
        out.print(f"code: {code['ahead']} commit(s) in {code['range']}")
    data = result.data
    if data["a"] or data["b"]:
        if data["same"]:
            out.print(f"training data: unchanged (md5 {str(data['a'].get('md5'))[:8]})")
        else:
            out.print(
                f"training data: {data['a'].get('path')} md5 {str(data['a'].get('md5'))[:8]} "
                f"({data['a'].get('rows')} rows) -> {data['b'].get('path')} md5 "
                f"{str(data['b'].get('md5'))[:8]} ({data['b'].get('rows')} rows)"
            )
        if data["shift"]:
            out.table(
                "distribution shift (B against A, from the profiles)",
                ["feature", "PSI", "W1 (sd)", "level"],
                [
                    [s["feature"], f"{s['psi']:.3f}", _short(s.get("wasserstein")), s["level"]]
                    for s in data["shift"][:15]
                ],
            )
    feats = result.features
    for key in ("added", "removed"):
        if feats[key]:
            out.print(f"features {key}: {', '.join(feats[key])}")
    if result.importance:
        out.table(
            "feature importance (share of gain)",
            ["feature", "A", "B", "change"],
            [
                [r["feature"], f"{r['a']:.3f}", f"{r['b']:.3f}", f"{r['delta']:+.3f}"]
                for r in result.importance
            ],
        )
    for note in result.notes:
        out.print(f"note: {note}")

"""Options shared by commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--config",
        "-c",
        help="Path to mlops.yaml (default: nearest mlops.yaml from the current folder up).",
        show_default=False,
        dir_okay=True,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout for machines.")
]
RunnerOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--runner", "-r", help="Runner from mlops.yaml `runners:` (default: default_runner)."
    ),
]
TuneRunnerOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--runner",
        "-r",
        help="Run the trials on this dask runner from mlops.yaml `runners:` (default: here).",
    ),
]
CheckRunnerOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--runner",
        "-r",
        help="Run on this runner from mlops.yaml `runners:` (ssh: on the host, from the "
        "committed state; default: here).",
    ),
]

"""The Typer application: global options and the list of commands."""

from __future__ import annotations

from typing import Annotated

import typer

from mlx import __version__
from mlx.cli import eval as eval_cmd
from mlx.cli import experiments as experiments_cmd
from mlx.cli import hook as hook_cmd
from mlx.cli import init as init_cmd
from mlx.cli import monitor as monitor_cmd
from mlx.cli import promote as promote_cmd
from mlx.cli import registry as registry_cmd
from mlx.cli import serve as serve_cmd
from mlx.cli import train as train_cmd
from mlx.cli import tune as tune_cmd
from mlx.cli import validate as validate_cmd
from mlx.cli._output import set_traceback

app = typer.Typer(
    name="mlx",
    help="Git-native MLOps for tabular models: validate, train, eval, promote, serve, monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help costs ~0.15 s of imports per call
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"mlx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python stack on errors.", hidden=True)
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Git-native MLOps for tabular models."""
    set_traceback(traceback)


for module in (
    init_cmd,
    validate_cmd,
    train_cmd,
    eval_cmd,
    promote_cmd,
    registry_cmd,
    experiments_cmd,
    serve_cmd,
    monitor_cmd,
    hook_cmd,
    tune_cmd,
):
    module.register(app)

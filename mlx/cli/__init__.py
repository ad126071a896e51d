"""The command line: argument parsing, rendering and exit codes only.

Each command lives in its own module and calls :mod:`mlx.api`; nothing here imports
heavy libraries at module level, so ``mlx --help`` and ``mlx validate --config-only``
start fast.
"""

from __future__ import annotations


def main() -> None:
    """Console-script entry point."""
    import os

    # pydantic scans every installed distribution for plugins on first use (~20 ms in a
    # typical venv); mlx uses none. Set the variable yourself to opt back in.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from mlx.cli.app import app

    app(prog_name="mlx")

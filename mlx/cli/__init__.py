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
    quiet_warnings()
    from mlx.cli.app import app

    try:
        app(prog_name="mlx")
    finally:
        import gc

        # Every object still alive goes to the permanent generation, so the collections
        # the interpreter runs while shutting down do not walk them: after `mlx train`
        # (pandas, LightGBM, sklearn, DVC loaded) that walk took 0.5 s of a 3.5 s command,
        # for memory the OS reclaims anyway. atexit handlers, flushes and reference-count
        # destructors still run.
        gc.freeze()


def quiet_warnings() -> None:
    """No Python warnings in mlx's output (third-party deprecations, numpy runtime
    warnings): they are for developers, not for a CI log. ``--traceback``,
    ``MLX_TRACEBACK=1`` or an explicit ``PYTHONWARNINGS`` show them again.

    Child processes mlx starts (DVC, ssh hosts, Dask workers) inherit the choice through
    ``PYTHONWARNINGS``.
    """
    import os
    import sys
    import warnings

    if os.environ.get("PYTHONWARNINGS"):
        return
    if "--traceback" in sys.argv[1:] or os.environ.get("MLX_TRACEBACK", "") not in ("", "0"):
        return
    warnings.simplefilter("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"

"""Rendering and the one error funnel shared by every command.

A command opens ``with session(json_mode) as out:``, calls the API, and hands the
result to ``out.emit``. Any :class:`MlxError` raised inside becomes a rendered message
(or a JSON object under ``--json``) and the error's exit code. Under ``--json`` stdout
carries exactly one JSON document; everything for humans goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from mlx.errors import ExitCode, MlxError

_state = {"traceback": os.environ.get("MLX_TRACEBACK", "") not in ("", "0")}


def set_traceback(enabled: bool) -> None:
    _state["traceback"] = _state["traceback"] or enabled


NON_TTY_WIDTH = 160  # tables in CI logs and pipes; text lines are never wrapped at all


def make_console(stderr: bool):
    """A rich console that never hard-wraps text (commands and paths stay pasteable).

    ``soft_wrap`` leaves line breaking to the terminal, so a suggested command or a
    path is one line however long. Tables still fit a width: the terminal's when there
    is one, else ``$COLUMNS`` or a wide default (rich's own is 80, which splits titles).
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        width = (
            int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else NON_TTY_WIDTH
        )
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


class Output:
    """Where a command writes: rich for people, one JSON document for machines."""

    def __init__(self, json_mode: bool, command: str) -> None:
        self.json = json_mode
        self.command = command
        self._console = None
        self._err_console = None

    @property
    def console(self):
        """Console for results (stdout); under --json, stderr so stdout stays clean."""
        if self.json:
            return self.err
        if self._console is None:
            self._console = make_console(stderr=False)
        return self._console

    @property
    def err(self):
        if self._err_console is None:
            self._err_console = make_console(stderr=True)
        return self._err_console

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.console.print(*args, **kwargs)

    def plain(self, text: str) -> None:
        """One line without rich (no markup): the fast path for short confirmations."""
        stream = sys.stderr if self.json else sys.stdout
        stream.write(text + "\n")

    def info(self, message: str) -> None:
        """A progress remark: shown to people, kept off stdout under --json."""
        self.err.print(message) if self.json else self.console.print(message)

    def remote_log(self, line: str) -> None:
        """A line of a remote runner's output: dimmed, on stderr (stdout stays the result's)."""
        from rich.markup import escape

        self.err.print(f"[dim]│ {escape(line)}[/]", soft_wrap=True)

    def emit(self, payload: dict[str, Any], render: Callable[[Output], None] | None = None) -> None:
        """Print the command's result: JSON document, or ``render(self)`` for people."""
        if self.json:
            doc = {"ok": payload.get("ok", True), "command": self.command, **payload}
            sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=_default) + "\n")
            sys.stdout.flush()
        elif render is not None:
            render(self)

    def progress(self, **kwargs: Any):
        """A rich progress bar on stderr (silent when stderr is not a terminal and --json)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=self.json and not self.err.is_terminal,
            **kwargs,
        )

    def table(
        self, title: str | None, columns: list[str], rows: list[list[Any]], **kwargs: Any
    ) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", **kwargs)
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.console.print(table)

    def error(self, exc: MlxError) -> None:
        if self.json:
            doc = {"ok": False, "command": self.command, "error": exc.to_dict()}
            sys.stdout.write(json.dumps(doc, indent=2, default=_default) + "\n")
            sys.stdout.flush()
            return
        from rich.markup import escape

        label = {1: "failed", 2: "error", 3: "environment error", 70: "bug"}.get(
            int(exc.exit_code), "error"
        )
        self.err.print(f"[bold red]{label}:[/] {escape(exc.message)}")
        if exc.hint:
            self.err.print(f"[dim]hint:[/] {escape(exc.hint)}")


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


@contextlib.contextmanager
def session(json_mode: bool, command: str) -> Iterator[Output]:
    """Run a command body; turn errors into messages and exit codes."""
    out = Output(json_mode, command)
    try:
        yield out
    except typer.Exit:
        raise
    except MlxError as exc:
        if _state["traceback"]:
            out.err.print_exception()
        out.error(exc)
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        out.err.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except OSError as exc:
        if _state["traceback"]:
            raise
        out.error(_wrap(exc, ExitCode.ENVIRONMENT))
        raise typer.Exit(int(ExitCode.ENVIRONMENT)) from None
    except Exception as exc:  # a bug: say so, keep the stack one flag away
        if _state["traceback"]:
            raise
        err = _wrap(exc, ExitCode.INTERNAL, prefix="internal error: ")
        err.hint = (
            "this is a bug in mlx, not a problem with your input; please report it with the "
            "stack that `mlx --traceback ...` (or MLX_TRACEBACK=1) prints"
        )
        out.error(err)
        raise typer.Exit(int(ExitCode.INTERNAL)) from None


def _wrap(exc: Exception, code: ExitCode, prefix: str = "") -> MlxError:
    err = MlxError(f"{prefix}{type(exc).__name__}: {exc}")
    err.exit_code = code
    return err


def finish(ok: bool) -> None:
    """Exit 0 when ``ok``, else 1 (a check failed)."""
    if not ok:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))

"""Request errors: each becomes a 4xx/5xx response ``{"error": "..."}``, never a crash."""

from __future__ import annotations


class BadRequest(Exception):
    """The request is wrong; ``message`` names the input, column or header at fault."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def show(value) -> str:
    """A short, safe rendering of a client-supplied value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def listing(names, limit: int = 10) -> str:
    """``'a', 'b', 'c'`` (quoted), cut after ``limit`` names with a count of the rest."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

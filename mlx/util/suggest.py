""" "Did you mean ...": the nearest valid names for a name that is not there."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def near(name: str, valid: Iterable[object], n: int = 3) -> list[str]:
    """Up to ``n`` names from ``valid`` close to ``name`` (case-insensitive, best first)."""
    names = [str(v) for v in valid]
    by_lower: dict[str, str] = {}
    for v in names:
        by_lower.setdefault(v.lower(), v)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in close]


def did_you_mean(name: str, valid: Iterable[object], listed: int = 12) -> str:
    """A hint naming the closest matches, else the valid names (the first ``listed``)."""
    names = [str(v) for v in valid]
    close = near(name, names)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    shown = ", ".join(names[:listed]) + (
        f", ... ({len(names)} in all)" if len(names) > listed else ""
    )
    return f"the columns are: {shown}" if names else "the data has no columns"

"""What a validation found: one :class:`Failure` per (column, check), in a report.

Shared by the rule checks (:mod:`mlx.data.validate`) and the checks that stand in when no
rules are declared (:mod:`mlx.data.implicit`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SAMPLE = 5


@dataclass
class Failure:
    column: str | None
    check: str
    count: int
    values: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # 0-based data row numbers (CSV line = row + 2)
    hint: str | None = None  # e.g. which config key names a missing column, and near matches

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.hint is None:
            out.pop("hint")
        return out

    def describe(self) -> str:
        """One line for an error message: the column, the check, and the hint or values."""
        if self.check == "column present":
            what = f"column {self.column!r} is missing"
        else:
            what = f"column {self.column!r}: {self.check}" if self.column else self.check
        if self.hint:
            return f"{what} ({self.hint})"
        if self.values:
            return f"{what} (e.g. {', '.join(map(repr, self.values[:3]))})"
        return what


@dataclass
class ValidationReport:
    path: str
    rows: int
    columns: int
    failures: list[Failure]
    checked_against: str | None = None  # the model whose schema stood in for missing rules

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self, limit: int = 3) -> str:
        """The first failures in words, for a one-line error."""
        parts = [f.describe() for f in self.failures[:limit]]
        more = len(self.failures) - limit
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "path": self.path,
            "rows": self.rows,
            "columns": self.columns,
            "failures": [f.to_dict() for f in self.failures],
            "checked_against": self.checked_against,
        }


class DataChecked:
    """A command result that may carry a data validation report (``mlx validate``, the
    pre-commit hook): ok unless the data was checked and failed."""

    data: ValidationReport | None

    @property
    def ok(self) -> bool:
        return self.data is None or self.data.ok

    def data_dict(self) -> dict[str, Any] | None:
        return self.data.to_dict() if self.data is not None else None

"""One error hierarchy for all of mlx; each class carries the exit code CI sees.

Core code raises these; the CLI has exactly one handler that renders them (rich or
``--json``) and exits with ``exit_code``. Anything else that escapes is a bug: the
handler reports it as an internal error (exit 70, sysexits' EX_SOFTWARE) and
``--traceback`` shows the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes, documented in docs/exit-codes.md and stable across releases."""

    OK = 0
    CHECK_FAILED = 1  # validation, eval gate, drift: the input was judged and failed
    USAGE = 2  # bad flags, bad config, bad reference
    ENVIRONMENT = 3  # no git repo, DVC data not pulled, remote unreachable, host down
    INTERNAL = 70  # a bug in mlx (sysexits.h EX_SOFTWARE): never a verdict on the input


class MlxError(Exception):
    """Base of every error mlx raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": type(self).__name__,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


# --- exit 1: a check ran and failed -------------------------------------------------


class CheckFailed(MlxError):
    """A check ran on valid input and the input did not pass it."""

    exit_code = ExitCode.CHECK_FAILED


class DataValidationFailed(CheckFailed):
    """The data broke the schema; ``details['failures']`` lists every failure."""


class BadDataFile(CheckFailed):
    """A data file mlx was given cannot be used as data: empty, no rows, not UTF-8 text,
    malformed CSV or Parquet. Bad data is exit 1 wherever it is found; exit 3 stays for
    what the environment causes (not pulled, permissions, remote down)."""


class StageFailed(CheckFailed):
    """A pipeline stage (train, eval, parity) ran and failed on its own terms."""


class PromotionRefused(CheckFailed):
    """The registry refused a write (dirty tree, failed eval, unknown stage, bad version)."""


# --- exit 2: usage and configuration -------------------------------------------------


class UsageError(MlxError):
    exit_code = ExitCode.USAGE


@dataclass
class ConfigIssue:
    """One problem in a config file, located as precisely as the YAML allows."""

    file: str
    key: str  # dotted key path, e.g. "serve.port"
    message: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    suggestion: str | None = None

    def where(self) -> str:
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def __str__(self) -> str:
        text = f"{self.where()}: {self.key or '<root>'}: {self.message}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        return text


class ConfigError(UsageError):
    """The config file is missing, malformed or invalid; carries every issue found."""

    def __init__(self, message: str, issues: list[ConfigIssue] | None = None, **kw: Any) -> None:
        self.issues = issues or []
        if self.issues:
            message = message + "\n" + "\n".join(f"  {issue}" for issue in self.issues)
        details = kw.pop("details", {}) or {}
        if self.issues:
            details["issues"] = [_issue_dict(i) for i in self.issues]
        super().__init__(message, details=details, **kw)


def _issue_dict(issue: ConfigIssue) -> dict[str, Any]:
    return {k: v for k, v in issue.__dict__.items() if v is not None}


class RefError(UsageError):
    """A model reference (NAME#STAGE, NAME@vX.Y.Z, commit, path) does not resolve."""


# --- exit 3: the environment ---------------------------------------------------------


class EnvironmentProblem(MlxError):
    exit_code = ExitCode.ENVIRONMENT


class NotAGitRepo(EnvironmentProblem):
    pass


class GitError(EnvironmentProblem):
    pass


class TagExists(GitError):
    """git refused to create a tag because one with that name exists (never overwritten)."""


class DvcError(EnvironmentProblem):
    pass


class DataNotAvailable(EnvironmentProblem):
    """A data file is absent locally (not pulled, wrong path)."""


class RemoteUnreachable(EnvironmentProblem):
    """A DVC remote, ssh host or Dask scheduler cannot be reached."""


class RemoteAuthFailed(EnvironmentProblem):
    """The ssh host refused our key, or its host key is not a known one."""


class RemoteCommandFailed(EnvironmentProblem):
    """A runner's set-up step on the host failed (python, venv, `dvc pull`, transfer)."""


class MissingExtra(EnvironmentProblem):
    """An optional dependency group (``pip install 'mlx-mlops[NAME]'``) is not installed."""

    def __init__(self, extra: str, purpose: str, missing: str) -> None:
        super().__init__(
            f"{purpose} needs the optional extra mlx-mlops[{extra}] ({missing} is not installed)",
            hint=f"pip install 'mlx-mlops[{extra}]'",
        )


class IntegrityError(EnvironmentProblem):
    """A file's hash does not match its DVC pointer."""


class RegistryBusy(EnvironmentProblem):
    """Another mlx process holds the registry lock for longer than we may wait."""

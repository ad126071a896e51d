"""GTO's tag names: parse and format them exactly as GTO 1.x does, plus SemVer order.

The grammar is copied from ``gto/constants.py`` so that every tag mlx writes is read the
same way by ``gto show`` / ``gto check-ref`` and vice versa:

- ``NAME@vX.Y.Z`` registers a version, ``NAME@vX.Y.Z!`` deregisters it;
- ``NAME#STAGE#N`` assigns a stage, ``NAME#STAGE!#N`` unassigns it (``N``: one counter
  per artifact across all its tags, highest + 1);
- ``NAME@deprecated`` (or ``NAME@deprecated#N`` for a repeated deprecation) deprecates
  the artifact.

An artifact in a sub-folder, ``dir:name``, is written ``dir=name`` in tag names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from mlx.errors import UsageError

REGISTRATION = "registration"
DEREGISTRATION = "deregistration"
ASSIGNMENT = "assignment"
UNASSIGNMENT = "unassignment"
DEPRECATION = "deprecation"
CREATION = "creation"

# GTO's event priorities (gto/base.py): used to order events that share a timestamp.
PRIORITY = {
    CREATION: 1,
    DEPRECATION: 2,
    REGISTRATION: 3,
    DEREGISTRATION: 4,
    ASSIGNMENT: 5,
    UNASSIGNMENT: 6,
}

_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_DIRNAME = "[a-zA-Z0-9-_./]+"
_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_FULLNAME = f"(?P<dirname>{_DIRNAME}:)?(?P<name>{_NAME})"
_FULLNAME_IN_TAG = _FULLNAME.replace(":", "=")

NAME_RE = re.compile(f"^{_NAME}$")
FULLNAME_RE = re.compile(f"^{_FULLNAME}$")
VERSION_RE = re.compile(f"^v{_SEMVER}$")
TAG_RE = re.compile(
    f"^(?P<artifact>{_FULLNAME_IN_TAG})"
    f"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))"
    r"|@((?P<deprecated>deprecated)|(?P<created>created)))"
    r"(#(?P<counter>[0-9]+))?$"
)
# What a user may type to name a model: NAME#STAGE, NAME@vX.Y.Z, NAME@latest.
SHORTCUT_RE = re.compile(
    f"^(?P<artifact>{_FULLNAME})(#(?P<stage>{_NAME})|@(?P<version>latest|greatest|v{_SEMVER}))$"
)


def name_to_tag(name: str) -> str:
    return name.replace(":", "=")


def tag_to_name(value: str) -> str:
    return value.replace("=", ":")


def is_valid_name(name: str) -> bool:
    return bool(FULLNAME_RE.match(name))


def check_name(name: str, what: str = "artifact name") -> str:
    """``name`` if GTO accepts it; :class:`UsageError` (exit 2) otherwise."""
    if not is_valid_name(name):
        raise UsageError(
            f"{what} {name!r} is not a valid GTO name",
            hint="letters, digits, '-', '_' and '/'; start and end with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class ParsedTag:
    """What a tag name says, before looking at the tag object."""

    tag: str
    name: str  # artifact name, with ':' for sub-folders
    action: str  # one of the event constants above
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse_tag(tag: str) -> ParsedTag | None:
    """Parse a GTO tag name; None when ``tag`` is not in GTO's format."""
    m = TAG_RE.match(tag)
    if not m:
        return None
    counter = int(m["counter"]) if m["counter"] else None
    cancel = m["cancel"] == "!"
    name = tag_to_name(m["artifact"])
    if m["version"]:
        action = DEREGISTRATION if cancel else REGISTRATION
        return ParsedTag(tag, name, action, version=m["version"], counter=counter)
    if m["stage"]:
        action = UNASSIGNMENT if cancel else ASSIGNMENT
        return ParsedTag(tag, name, action, stage=m["stage"], counter=counter)
    if m["deprecated"]:
        return ParsedTag(tag, name, DEPRECATION, counter=counter)
    return ParsedTag(tag, name, CREATION, counter=counter)


# --- formatting (the names GTO's own commands would write) --------------------------


def registration_tag(name: str, version: str) -> str:
    return f"{name_to_tag(name)}@{version}"


def deregistration_tag(name: str, version: str) -> str:
    return f"{name_to_tag(name)}@{version}!"


def assignment_tag(name: str, stage: str, counter: int) -> str:
    return f"{name_to_tag(name)}#{stage}#{counter}"


def unassignment_tag(name: str, stage: str, counter: int) -> str:
    return f"{name_to_tag(name)}#{stage}!#{counter}"


def deprecation_tag(name: str, counter: int | None = None) -> str:
    base = f"{name_to_tag(name)}@deprecated"
    return base if counter is None else f"{base}#{counter}"


def default_message(
    action: str, name: str, version: str | None = None, stage: str | None = None
) -> str:
    """GTO's default first line for each kind of tag (gto/registry.py)."""
    if action == REGISTRATION:
        return f"Registering artifact {name} version {version}"
    if action == DEREGISTRATION:
        return f"Deregistering artifact {name} version {version}"
    if action == ASSIGNMENT:
        return f"Assigning stage {stage} to artifact {name} version {version}"
    if action == UNASSIGNMENT:
        return f"Unassigning stage '{stage}' to artifact '{name}' version '{version}'"
    if action == DEPRECATION:
        return f"Deprecating artifact '{name}'"
    raise ValueError(action)


# --- SemVer ------------------------------------------------------------------------


@total_ordering
class SemVer:
    """A ``vX.Y.Z[-pre][+build]`` version with SemVer 2.0 precedence (build ignored)."""

    __slots__ = ("text", "major", "minor", "patch", "pre")

    def __init__(self, text: str) -> None:
        m = VERSION_RE.match(text)
        if not m:
            raise UsageError(
                f"{text!r} is not a version", hint="versions look like v1.2.3 (SemVer with a 'v')"
            )
        self.text = text
        self.major, self.minor, self.patch = int(m["major"]), int(m["minor"]), int(m["patch"])
        self.pre = tuple(m["prerelease"].split(".")) if m["prerelease"] else ()

    @staticmethod
    def is_valid(text: str) -> bool:
        return bool(VERSION_RE.match(text))

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its pre-releases; numeric identifiers sort before
        # alphanumeric ones and compare as numbers.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"SemVer({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def bump(self, part: str) -> SemVer:
        if part == "major":
            return SemVer(f"v{self.major + 1}.0.0")
        if part == "minor":
            return SemVer(f"v{self.major}.{self.minor + 1}.0")
        if part == "patch":
            return SemVer(f"v{self.major}.{self.minor}.{self.patch + 1}")
        raise UsageError(f"unknown bump {part!r}", hint="one of major, minor, patch")


ZERO = SemVer("v0.0.0")

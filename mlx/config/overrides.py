"""``--set KEY=VALUE``: one run's changes to ``mlops.yaml`` without editing the file.

Each override is a dotted key path and a YAML scalar or flow value (``63``, ``0.05``,
``true``, ``[a, b]``, ``null``), parsed with the same bounded safe loader as the file.
They are applied to the document *before* validation, so the one config model checks
them with the same rules and messages as the file; an issue that comes from an override
is reported as ``--set KEY=VALUE`` instead of a file line.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlx.errors import ConfigError, ConfigIssue, UsageError
from mlx.util import yamlsafe

MAX_OVERRIDES = 200
MAX_VALUE_BYTES = 64 * 1024


def parse_overrides(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["model.params.num_leaves=63", ...]`` → ``{"model.params.num_leaves": 63}``.

    A later ``--set`` of the same key wins, as on every command line.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--set {item!r} is not KEY=VALUE",
                hint="e.g. --set model.params.num_leaves=63",
            )
        parts = key.split(".")
        if any(not p for p in parts):
            raise UsageError(
                f"--set {key!r}: empty part in the dotted key",
                hint="dotted keys look like model.params.num_leaves",
            )
        if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
            raise UsageError(f"--set {key}: value longer than {MAX_VALUE_BYTES} bytes")
        out[key] = _value(key, text)
    if len(out) > MAX_OVERRIDES:
        raise UsageError(f"{len(out)} --set overrides; the limit is {MAX_OVERRIDES}")
    return out


def _value(key: str, text: str) -> Any:
    if text.strip() == "":
        return ""
    try:
        return yamlsafe.safe_load(text, max_nodes=10_000)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(
            f"--set {key}={text}: not a YAML value ({problem})",
            hint="quote strings that contain ':' or '#', e.g. --set 'key=\"a: b\"'",
        ) from None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], filename: str) -> None:
    """Set each dotted key in the parsed document (creating missing mappings)."""
    for key, value in overrides.items():
        parts = key.split(".")
        here: Any = data
        for depth, part in enumerate(parts[:-1]):
            child = here.get(part) if isinstance(here, dict) else None
            if child is None:
                child = {}
                here[part] = child
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"--set {key}: {where} is not a mapping",
                    [ConfigIssue(origin(key, value), key, f"{where} is a {type(child).__name__}")],
                )
            here = child
        here[parts[-1]] = value


def origin(key: str, value: Any) -> str:
    """How an issue caused by an override names its source."""
    import json

    shown = value if isinstance(value, str) else json.dumps(value)
    return f"--set {key}={shown}"


def owner(loc: tuple[str | int, ...], overrides: dict[str, Any], in_file: bool) -> str | None:
    """The override that a config error at ``loc`` comes from, if any.

    An override owns every location under it, and a location above it that only it
    created (``--set model.parms.x=1`` makes the unknown key ``model.parms``)."""
    dotted = ".".join(str(p) for p in loc)
    for key in overrides:
        if dotted == key or dotted.startswith(key + "."):
            return key
        if not in_file and dotted and key.startswith(dotted + "."):
            return key
    return None
